"""Registry benchmarks (issue 13, item 9): pull and push, dockyard vs a real dockerd in one run.

    .venv/bin/python bench/registry.py [--rounds N]

Builds a ~256 MiB image in five data layers (text-like lines with counters, which compress about
6x, and incompressible random bytes) on a busybox base layer so it runs, plus a base image that
shares its first two layers, and publishes them to a local docker-registry (tests/registry.py) as
Docker schema 2 with gzip layers and as OCI with zstd layers (skopeo). Then, alternating the
engines within every case and round, it times through the docker CLI (/usr/bin/docker):

1. cold pull (gzip): the image and every layer removed first (`rmi -f`, `image prune -af`),
   with the daemon's peak RSS during the pull (case 6); also dockyard's and dockerd's raw API time
   for the same cold pull (`POST /images/create`, the stream read to its end);
2. pull with the base present: the base image pulled first (untimed), then the full image;
3. push to an empty registry (a fresh docker-registry per round) of the pulled image;
4. push again to the same registry (every blob exists): the median of 7 pushes in each round;
5. dockyard's cold pull of the zstd image, against dockerd's cold gzip pull of the same content
   (dockerd 20.10 cannot pull zstd layers).

Prints medians, dockyard/dockerd ratios and issue 13's targets. A case that fails on an engine is
kept and reported (error, daemon log lines) instead of ending the run. Everything lives in one temp
dir under /var/tmp, removed at the end with the registries and both daemons. Not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from engine import BenchDaemon  # noqa: E402
from tests import oracle as oracle_dockerd  # noqa: E402
from tests import registry as R  # noqa: E402
from tests.conftest import UnixHTTPConnection, own_cgroup_parent, teardown_host_state  # noqa: E402

DOCKER = "/usr/bin/docker"  # Debian's CLI 20.10, as the tests drive
MIB = 1 << 20
REPO = "bench/app"
OP_TIMEOUT = 900.0  # one pull or push; a hung daemon fails the case instead of the run
RSS_INTERVAL = 0.01
AGAIN_SAMPLES = 7  # push-again samples per round

# case names (rows of the table, in this order)
COLD = "cold pull gzip (docker CLI)"
COLD_API = "cold pull gzip (raw API)"
BASE = "pull, base present (docker CLI)"
PUSH = "push to empty registry"
PUSH_AGAIN = "push again (all blobs exist)"
ZSTD = "cold pull zstd (dockerd: gzip)"
RSS_BEFORE = "daemon RSS before the cold pull"
RSS = "peak daemon RSS, cold pull gzip"
RSS_HWM = "peak daemon RSS (VmHWM), cold pull gzip"
RSS_TREE = "peak RSS + helpers, cold pull gzip"
RSS_ZSTD = "peak daemon RSS, cold pull zstd"
RSS_TREE_ZSTD = "peak RSS + helpers, zstd pull"
ORDER = (COLD, COLD_API, BASE, ZSTD, PUSH, PUSH_AGAIN, RSS_BEFORE, RSS, RSS_HWM, RSS_TREE,
         RSS_ZSTD, RSS_TREE_ZSTD)  # fmt: skip
# issue 13's targets: ("ratio", x) is dockyard/dockerd <= x; ("mib", n) is dockyard <= n MiB
TARGETS: dict[str, tuple[str, float]] = {
    COLD: ("ratio", 0.5),
    ZSTD: ("ratio", 0.4),
    PUSH: ("ratio", 1.0),
    PUSH_AGAIN: ("ratio", 1.0),
    RSS: ("mib", 100),
    RSS_HWM: ("mib", 100),
}
HELPER_SKIP = ("containerd", "dockyard-shim")  # long-lived children that take no part in a pull


# ---------------------------------------------------------------------------------------------
# The image


def text_bytes(n: int, seed: int) -> bytes:
    """About n bytes of log-like lines with counters: compresses about 6x, like real text."""
    out, size, i = [], 0, 0
    while size < n:
        line = (
            f"{i:09d} 2024-01-01T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}Z "
            f"INFO svc=api-{seed} req={(i * 7919 + seed) % 1000003:07d} "
            f"path=/v1/items/{(i * seed) % 997}/detail status={404 if i % 13 == 0 else 200} "
            f"bytes={(i * 31) % 65536}\n"
        )
        out.append(line)
        size += len(line)
        i += 1
    return "".join(out).encode()[:n]


def random_bytes(n: int, seed: int) -> bytes:
    """n incompressible bytes, the same every run (stable digests)."""
    return random.Random(seed).randbytes(n)


def image_layers() -> list[dict[str, R.Entry]]:
    """busybox, then five data layers of 40-64 MiB (256 MiB, 136 MiB of it text)."""
    bb = R.busybox_files(R.BUSYBOX_APPLETS + ("sha256sum", "wc", "cut"))
    l1: dict[str, R.Entry] = {
        f"srv/base/log-{k}.txt": text_bytes(8 * MIB, 10 + k) for k in range(6)
    }
    l1["srv/base/blob.bin"] = random_bytes(16 * MIB, 1)
    l2: dict[str, R.Entry] = {
        f"srv/media/chunk-{k}.bin": random_bytes(8 * MIB, 20 + k) for k in range(5)
    }
    small = text_bytes(8 * MIB, 3)  # 2,048 files of 4 KiB in 16 directories
    l3: dict[str, R.Entry] = {
        f"srv/app/d{k // 128:02d}/f{k % 128:03d}.txt": small[k * 4096 : (k + 1) * 4096]
        for k in range(2048)
    }
    l3.update({f"srv/app/doc-{k}.txt": text_bytes(8 * MIB, 30 + k) for k in range(6)})
    l4: dict[str, R.Entry] = {
        f"srv/models/weights-{k}.bin": random_bytes(16 * MIB, 40 + k) for k in range(3)
    }
    l5: dict[str, R.Entry] = {
        f"srv/data/part-{k}.csv": text_bytes(8 * MIB, 50 + k) for k in range(4)
    }
    l5["srv/data/tail.bin"] = random_bytes(16 * MIB, 5)
    layers = [bb, l1, l2, l3, l4, l5]
    for n, layer in enumerate(layers[1:], 1):
        layer[f"srv/CHECK-{n}"] = f"layer {n}\n".encode()
    return layers


CHECK_FILES = ("srv/base/blob.bin", "srv/media/chunk-4.bin", "srv/app/d15/f127.txt",
               "srv/models/weights-2.bin", "srv/data/tail.bin")  # fmt: skip
CHECK_SCRIPT = (
    "cat /srv/CHECK-*; sha256sum "
    + " ".join("/" + f for f in CHECK_FILES)
    + "; ls /srv/app/d07 | wc -l"
)


def expected_check(layers: list[dict[str, R.Entry]]) -> str:
    """What CHECK_SCRIPT prints in a container of the image."""
    files: dict[str, Any] = {k: v for layer in layers for k, v in layer.items()}
    out = "".join(f"layer {n}\n" for n in range(1, len(layers)))
    for f in CHECK_FILES:
        out += f"{hashlib.sha256(files[f]).hexdigest()}  /{f}\n"
    return out + "128\n"


@dataclass
class Published:
    reg: R.Registry
    gzip: str  # references
    base: str
    zstd: str
    layers: int
    summary: list[str]
    check: str


def blob_sizes(layout: Path) -> list[int]:
    top = R.layout_top(layout)
    blobs = layout / "blobs" / "sha256"
    man = json.loads((blobs / top["digest"].removeprefix("sha256:")).read_text())
    return [int(layer["size"]) for layer in man["layers"]]


def publish(tmp: Path, stack: contextlib.ExitStack) -> Published:
    """Build the layouts (in parallel: zlib and zstd release the GIL) and push them to a
    docker-registry that lives until the end of the run."""
    t0 = time.perf_counter()
    layers = image_layers()
    raw = [len(R.layer_tar(files)) for files in layers]
    with ThreadPoolExecutor(3) as pool:
        jobs = {
            "gzip": pool.submit(R.oci_layout, tmp / "layout-gzip", layers, compression="gzip"),
            "zstd": pool.submit(R.oci_layout, tmp / "layout-zstd", layers, compression="zstd"),
            "base": pool.submit(R.oci_layout, tmp / "layout-base", layers[:2], compression="gzip"),
        }
        for job in jobs.values():
            job.result()
    gz, zs = blob_sizes(tmp / "layout-gzip"), blob_sizes(tmp / "layout-zstd")
    check = expected_check(layers)
    del layers
    built = time.perf_counter() - t0
    reg = stack.enter_context(R.registry(tmp / "registries"))
    t0 = time.perf_counter()
    R.skopeo_push(tmp / "layout-gzip", f"{REPO}:gzip", reg, fmt="v2s2")
    R.skopeo_push(tmp / "layout-base", f"{REPO}:base", reg, fmt="v2s2")
    R.skopeo_push(tmp / "layout-zstd", f"{REPO}:zstd", reg, fmt="oci")
    pushed = time.perf_counter() - t0
    for name in ("layout-gzip", "layout-zstd", "layout-base"):
        shutil.rmtree(tmp / name)
    summary = [f"image: {len(raw)} layers, {sum(raw) / MIB:.1f} MiB as tar; "
               f"gzip {sum(gz) / MIB:.1f} MiB, zstd {sum(zs) / MIB:.1f} MiB "
               f"(built in {built:.1f} s, published in {pushed:.1f} s to {reg.host})"]  # fmt: skip
    for i, (a, b, c) in enumerate(zip(raw, gz, zs, strict=True)):
        what = "busybox" if i == 0 else "data, shared with the base" if i == 1 else "data"
        summary.append(f"  layer {i}: {a / MIB:6.1f} MiB tar, gzip {b / MIB:6.1f}, "
                       f"zstd {c / MIB:6.1f}  ({what})")  # fmt: skip
    return Published(reg, f"{reg.host}/{REPO}:gzip", f"{reg.host}/{REPO}:base",
                     f"{reg.host}/{REPO}:zstd", len(raw), summary, check)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Engines, measurements, failures


class CaseError(Exception):
    pass


@dataclass
class Engine:
    name: str
    env: dict[str, str]
    sock: str
    pid: int
    log: Path

    def run(self, *args: str, timeout: float = OP_TIMEOUT) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run([DOCKER, *args], env=self.env, capture_output=True, text=True,
                                  timeout=timeout, check=False)  # fmt: skip
        except subprocess.TimeoutExpired as e:
            raise CaseError(f"docker {' '.join(args)}: no answer in {timeout:.0f} s") from e

    def docker(self, *args: str, timeout: float = OP_TIMEOUT) -> str:
        r = self.run(*args, timeout=timeout)
        if r.returncode != 0:
            raise CaseError(f"docker {' '.join(args)} exited {r.returncode}: {r.stderr.strip()}")
        return r.stdout

    def log_mark(self) -> int:
        try:
            return self.log.stat().st_size
        except OSError:
            return 0

    def log_since(self, mark: int, limit: int = 40) -> list[str]:
        try:
            with open(self.log, "rb") as f:
                f.seek(mark)
                lines = f.read().decode(errors="replace").splitlines()
        except OSError:
            return []
        # from the first error-ish line on (a traceback's frames follow it), else the last lines
        words = ("error", "warn", "fail", "traceback", "exception")
        loud = [i for i, ln in enumerate(lines) if any(w in ln.lower() for w in words)]
        return lines[loud[0] : loud[0] + limit] if loud else lines[-limit:]


def rss_mib(pid: int, key: str = "VmRSS") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            with contextlib.suppress(OSError, ValueError):
                kids = [int(k) for k in (task / "children").read_text().split()]
                out.extend(kids)
                todo.extend(kids)
    return out


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


class PeakRSS:
    """Peak RSS of a daemon while a block runs: VmRSS polled every RSS_INTERVAL from a thread, the
    kernel's VmHWM after resetting it (clear_refs 5), and the daemon plus its short-lived helper
    processes (decompressors, untar children), polled."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.before = 0.0
        self.peak = 0.0
        self.peak_tree = 0.0
        self.hwm: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True, name="rss-poll")
        self._hwm_reset = False

    def _sample(self) -> None:
        own = rss_mib(self.pid)
        helpers = sum(
            rss_mib(p) for p in descendants(self.pid) if not comm(p).startswith(HELPER_SKIP)
        )
        self.peak = max(self.peak, own)
        self.peak_tree = max(self.peak_tree, own + helpers)

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(RSS_INTERVAL)

    def __enter__(self) -> PeakRSS:
        self.before = rss_mib(self.pid)
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
            self._hwm_reset = True
        except OSError:
            self._hwm_reset = False
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        if self._hwm_reset:
            self.hwm = rss_mib(self.pid, "VmHWM")


@dataclass
class Failure:
    case: str
    engine: str
    round: int
    error: str
    log: list[str]
    kind: str = "error"  # "error": no value; "check": a value, but a wrong result


@dataclass
class Bench:
    results: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    round: int = 0

    def record(self, case: str, e: Engine, value: float) -> None:
        self.results.setdefault(case, {}).setdefault(e.name, []).append(value)

    def fail(self, case: str, e: Engine, error: str, mark: int, kind: str = "error") -> None:
        f = Failure(case, e.name, self.round, error, e.log_since(mark), kind)
        self.failures.append(f)
        print(f"  ! {e.name}: {case} (round {self.round + 1}): {kind}: {error}", flush=True)

    def measure(self, case: str, e: Engine, fn: Callable[[], float]) -> float | None:
        """Run one measurement; an exception becomes a recorded failure, not the run's end."""
        mark = e.log_mark()
        try:
            value = fn()
        except Exception as ex:  # noqa: BLE001 - every failure is reported, none ends the run
            self.fail(case, e, f"{type(ex).__name__}: {ex}" if not isinstance(ex, CaseError)
                      else str(ex), mark)  # fmt: skip
            return None
        self.record(case, e, value)
        print(f"  {e.name:8} {case}: {value:.3f}s", flush=True)
        return value

    def check(self, case: str, e: Engine, ok: bool, what: str, mark: int) -> None:
        if not ok:
            self.fail(case, e, what, mark, kind="check")


def clean(e: Engine) -> None:
    """Remove every image and layer: `rmi -f` of what is there, then `image prune -af`."""
    ids = e.docker("images", "-aq").split()
    if ids:
        e.docker("rmi", "-f", *sorted(set(ids)))
    e.docker("image", "prune", "-af")
    left = e.docker("images", "-aq").split()
    if left:
        raise CaseError(f"images left after rmi -f and image prune -af: {left}")
    settle()


def settle() -> None:
    """Write back what earlier cases left dirty, so every timed case starts from the same disk
    state (without it the writeback of a previous pull lands in the next one's time)."""
    os.sync()


def already_exists(out: str) -> int:
    return sum(1 for line in out.splitlines() if line.rstrip().endswith("Already exists"))


def api_pull(e: Engine, ref: str) -> float:
    """POST /images/create and read the progress stream to its end; fails on an error message."""
    name, _, tag = ref.rpartition(":")
    query = urllib.parse.urlencode({"fromImage": name, "tag": tag})
    t0 = time.perf_counter()
    conn = UnixHTTPConnection(e.sock, timeout=OP_TIMEOUT)
    try:
        conn.request("POST", f"/images/create?{query}", headers={"Content-Length": "0"})
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    elapsed = time.perf_counter() - t0
    if resp.status != 200:
        raise CaseError(f"POST /images/create answered {resp.status}: {body[:500]!r}")
    text = body.decode(errors="replace")
    errors = [ln for ln in text.splitlines() if '"error' in ln]
    if errors:
        raise CaseError(f"the pull stream reported: {errors[0][:500]}")
    if "Status:" not in text:
        raise CaseError(f"the pull stream ended without a Status line: {text[-300:]!r}")
    return elapsed


def image_id(e: Engine, ref: str) -> str:
    return e.docker("image", "inspect", "--format", "{{.Id}}", ref).strip()


# ---------------------------------------------------------------------------------------------
# The cases


@dataclass
class Run:
    bench: Bench
    img: Published
    tmp: Path
    dy: Engine
    oracle: Engine | None
    verified: set[tuple[str, str]] = field(default_factory=set)
    ids: dict[str, str] = field(default_factory=dict)

    def verify(self, case: str, e: Engine, ref: str, mark: int) -> None:
        """Once per engine and image: a container of it sees the right bytes; both engines give
        the gzip image the same Id."""
        if (e.name, ref) in self.verified:
            return
        self.verified.add((e.name, ref))
        r = e.run("run", "--rm", "--network", "none", ref, "sh", "-c", CHECK_SCRIPT, timeout=300)
        self.bench.check(case, e, r.returncode == 0 and r.stdout == self.img.check,
                         f"a container of {ref} printed {r.stdout!r} (exit {r.returncode}, "
                         f"stderr {r.stderr.strip()!r}), expected {self.img.check!r}", mark)  # fmt: skip
        if ref == self.img.gzip:
            self.ids[e.name] = image_id(e, ref)
            if len(set(self.ids.values())) > 1:
                self.bench.check(case, e, False, f"image Ids differ: {self.ids}", mark)

    def cold_pull(self, e: Engine, ref: str, case: str, rss_case: str, tree_case: str,
                  hwm_case: str | None) -> float:  # fmt: skip
        clean(e)
        mark = e.log_mark()
        with PeakRSS(e.pid) as rss:
            t0 = time.perf_counter()
            r = e.run("pull", ref)
            elapsed = time.perf_counter() - t0
        if r.returncode != 0:
            raise CaseError(f"docker pull {ref} exited {r.returncode}: {r.stderr.strip()}")
        if hwm_case:  # the gzip pull
            self.bench.record(RSS_BEFORE, e, rss.before)
        self.bench.record(rss_case, e, rss.peak)
        self.bench.record(tree_case, e, rss.peak_tree)
        if hwm_case and rss.hwm is not None:
            self.bench.record(hwm_case, e, rss.hwm)
        n = already_exists(r.stdout)
        self.bench.check(case, e, n == 0, f"{n} layers 'Already exists' in a cold pull", mark)
        self.verify(case, e, ref, mark)
        return elapsed

    def cold_api(self, e: Engine) -> float:
        clean(e)
        return api_pull(e, self.img.gzip)

    def with_base(self, e: Engine) -> float:
        clean(e)
        e.docker("pull", self.img.base)
        settle()
        mark = e.log_mark()
        t0 = time.perf_counter()
        out = e.docker("pull", self.img.gzip)
        elapsed = time.perf_counter() - t0
        n = already_exists(out)
        self.bench.check(BASE, e, n == 2, f"{n} layers 'Already exists' (expected 2)", mark)
        return elapsed

    def push(self, e: Engine) -> None:
        """Push to a fresh registry, then again to the same one; both recorded."""
        b = self.bench
        if e.run("image", "inspect", self.img.gzip).returncode != 0:
            e.docker("pull", self.img.gzip)  # the previous case failed: not timed
        base = self.tmp / "push"
        with R.registry(base) as reg:
            ref = f"{reg.host}/bench/pushed:latest"
            e.docker("tag", self.img.gzip, ref)
            try:
                outs: list[str] = []

                def push_once() -> float:
                    settle()
                    t0 = time.perf_counter()
                    outs.append(e.docker("push", ref))
                    return time.perf_counter() - t0

                mark = e.log_mark()
                if b.measure(PUSH, e, push_once) is not None:
                    missing = self.missing_in(reg, "bench/pushed:latest", self.img.layers)
                    b.check(PUSH, e, not missing, f"the registry lacks {missing}", mark)
                    mark = e.log_mark()

                    def push_again() -> float:
                        # ~60 ms: one sample is mostly noise, so each round takes the median
                        # of several (every one must say "Layer already exists" throughout)
                        return statistics.median(push_once() for _ in range(AGAIN_SAMPLES))

                    if b.measure(PUSH_AGAIN, e, push_again) is not None:
                        n = outs[-1].count("Layer already exists")
                        b.check(PUSH_AGAIN, e, n == self.img.layers,
                                f"{n} 'Layer already exists' of {self.img.layers} layers: "
                                f"{outs[-1][-600:]!r}", mark)  # fmt: skip
                else:
                    b.fail(PUSH_AGAIN, e, "not measured: the first push failed", mark)
            finally:
                e.run("rmi", ref)
        shutil.rmtree(reg.base, ignore_errors=True)

    @staticmethod
    def missing_in(reg: R.Registry, ref: str, layers: int) -> list[str]:
        """What the registry lacks of the pushed image (manifest, config, layers)."""
        name, tag = R.split_ref(ref)
        status, _, body = R.http_get(reg, f"/v2/{name}/manifests/{tag}")
        if status != 200:
            return [f"manifest {ref} ({status})"]
        man = json.loads(body)
        missing = []
        for desc in [man["config"], *man["layers"]]:
            status, _, _ = R.http_get(reg, f"/v2/{name}/blobs/{desc['digest']}", method="HEAD")
            if status != 200:
                missing.append(f"blob {desc['digest']} ({status})")
        if len(man["layers"]) != layers:
            missing.append(f"{layers} layers (the manifest lists {len(man['layers'])})")
        return missing

    def round(self, r: int) -> None:
        b, img = self.bench, self.img
        b.round = r
        engines = [self.dy] + ([self.oracle] if self.oracle else [])
        if r % 2:
            engines.reverse()  # who goes first alternates between rounds
        print(f"round {r + 1}", flush=True)
        for e in engines:  # 1 and 6: cold pull, peak RSS
            b.measure(
                COLD, e, lambda e=e: self.cold_pull(e, img.gzip, COLD, RSS, RSS_TREE, RSS_HWM)
            )
        for e in engines:  # 1: the same through the raw API
            b.measure(COLD_API, e, lambda e=e: self.cold_api(e))
        # 5: zstd, dockyard only; dockerd's column is its gzip cold pull of this round
        b.measure(ZSTD, self.dy, lambda: self.cold_pull(self.dy, img.zstd, ZSTD, RSS_ZSTD,
                                                        RSS_TREE_ZSTD, None))  # fmt: skip
        if self.oracle and self.oracle.name in b.results.get(COLD, {}):
            cold = b.results[COLD][self.oracle.name]
            if len(cold) > len(b.results.get(ZSTD, {}).get(self.oracle.name, [])):
                b.record(ZSTD, self.oracle, cold[-1])
        for e in engines:  # 2
            b.measure(BASE, e, lambda e=e: self.with_base(e))
        for e in engines:  # 3 and 4
            mark = e.log_mark()
            try:
                self.push(e)
            except Exception as ex:  # noqa: BLE001 - reported, the run goes on
                b.fail(PUSH, e, f"{type(ex).__name__}: {ex}", mark)


# ---------------------------------------------------------------------------------------------
# Report


def cell(per: dict[str, list[float]], case: str, engine: str, failed: set[tuple[str, str]]) -> str:
    """A table cell: the median with its unit, '!' when a round failed, FAILED with no value."""
    if engine not in per:
        return "FAILED" if (case, engine) in failed else "-"
    mark = "!" if (case, engine) in failed else ""
    v = statistics.median(per[engine])
    return f"{v:.1f} MiB{mark}" if "RSS" in case else f"{v:.3f}s{mark}"


def report(b: Bench, summary: list[str], have_oracle: bool) -> dict[str, Any]:
    print()
    for line in summary:
        print(line)
    print()
    print(f"{'case':40} {'dockyard':>11} {'dockerd':>11} {'ratio':>6}  {'target':20}")
    out: dict[str, Any] = {}
    failed = {(f.case, f.engine) for f in b.failures}
    for case in ORDER:
        per = b.results.get(case, {})
        if not per and not any(f.case == case for f in b.failures):
            continue
        a = statistics.median(per["dockyard"]) if "dockyard" in per else None
        d = statistics.median(per["dockerd"]) if "dockerd" in per else None
        r = a / d if a is not None and d else None
        ratio = f"{r:.2f}" if r is not None else "-"
        target = ""
        if case in TARGETS:
            kind, limit = TARGETS[case]
            if kind == "ratio":
                verdict = "-" if r is None else ("met" if r <= limit else "MISSED")
                target = f"<= {limit:.2f}x  {verdict}"
            else:
                verdict = "-" if a is None else ("met" if a <= limit else "MISSED")
                target = f"<= {limit:.0f} MiB  {verdict}"
        mine = cell(per, case, "dockyard", failed)
        theirs = cell(per, case, "dockerd", failed) if have_oracle else "-"
        print(f"{case:40} {mine:>11} {theirs:>11} {ratio:>6}  {target}")
        out[case] = {"dockyard": a, "dockerd": d, "samples": per}
    print("(median of each engine's rounds; ratio = dockyard / dockerd; '!' = a round failed or a "
          "check was wrong, see below; dockerd's zstd row is its gzip cold pull)")  # fmt: skip
    if b.failures:
        print(f"\nFAILURES ({len(b.failures)})")
        for f in b.failures:
            print(f"- {f.engine}, {f.case}, round {f.round + 1} ({f.kind}): {f.error}")
            for line in f.log:
                print(f"    | {line}")
    else:
        print("\nno failures")
    return out


@contextlib.contextmanager
def dockyard_daemon(tmp: Path, cfg: Path) -> Iterator[tuple[BenchDaemon, Engine]]:
    tmp.mkdir(parents=True, exist_ok=True)
    d = BenchDaemon(tmp, tmp / "data", tmp / "exec", tmp / "dy.sock",
                    own_cgroup_parent("-registry-bench"))  # fmt: skip
    try:
        d.start()
        assert d.proc is not None
        env = dict(d.env(), DOCKER_CONFIG=str(cfg))
        yield d, Engine("dockyard", env, str(d.socket), d.proc.pid, d.log_path)
    finally:
        with contextlib.suppress(Exception):
            d.api("POST", "/containers/prune")
        d.stop()
        leaks = teardown_host_state(d)
        if leaks:
            print(f"teardown had to force: {leaks}", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dockyard-bench-registry-", dir="/var/tmp"))
    cfg = tmp / "docker-config"  # the CLI reads no host credentials or helpers
    cfg.mkdir()
    (cfg / "config.json").write_text("{}")
    b = Bench()
    summary: list[str] = []
    have_oracle = oracle_dockerd.available()
    try:
        with contextlib.ExitStack() as stack:
            img = publish(tmp, stack)
            summary = img.summary
            print("\n".join(summary), flush=True)
            _, dy = stack.enter_context(dockyard_daemon(tmp / "dockyard", cfg))
            oracle = None
            if have_oracle:
                sock = stack.enter_context(oracle_dockerd.private_dockerd(tmp / "oracle"))
                pid = int((tmp / "oracle" / "d.pid").read_text())
                env = dict(os.environ, DOCKER_HOST=f"unix://{sock}", DOCKER_CONFIG=str(cfg))
                oracle = Engine("dockerd", env, sock, pid, tmp / "oracle" / "dockerd.log")
            else:
                print("dockerd is not installed: dockyard alone", file=sys.stderr)
            run = Run(b, img, tmp, dy, oracle)
            for r in range(args.rounds):
                run.round(r)
            for e in (dy, oracle):
                if e is not None:
                    with contextlib.suppress(CaseError):
                        clean(e)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = report(b, summary, have_oracle)
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "registry.json").write_text(
        json.dumps({"results": out, "failures": [f.__dict__ for f in b.failures]}, indent=2)
    )


if __name__ == "__main__":
    main()
