"""`explain` and `image layers` benchmark (B1): `explain` of one path in a 10-layer image and
`image layers` of a ~200 MiB image (4000 files over two COPY layers, then RUN steps that
overwrite and delete some), warm (after a first call, also reported), through the API and
through the CLI.
Target: each under 0.3 s. dockerd has no such commands, so nothing to compare with.

    .venv/bin/python bench/explain.py [--rounds N] [--mib 200] [--files 4000]

Not a test: medians go to bench/results/explain.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import Daemon, teardown_host_state  # noqa: E402
from tests.integration.test_build import build, text  # noqa: E402

OURS = [str(ROOT / ".venv/bin/python"), "-m", "dockyard"]


def context(dockerfile: str, files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, raw in {"Dockerfile": dockerfile.encode(), **files}.items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode = len(raw), 0o644
            tf.addfile(ti, io.BytesIO(raw))
    return buf.getvalue()


def build_image(d: Daemon, tag: str, dockerfile: str, files: dict[str, bytes]) -> float:
    t0 = time.perf_counter()
    status, msgs = build(d, raw=context(dockerfile, files), t=tag, nocache=1)
    if status != 200 or not any("aux" in m for m in msgs):
        raise RuntimeError(text(msgs) + json.dumps(msgs[-1]))
    return time.perf_counter() - t0


FIRST: dict[str, float] = {}


def timed(rounds: int, fn: Callable[[], object], case: str = "") -> list[float]:
    t0 = time.perf_counter()
    fn()  # warm: the layers' indexes parsed and cached
    if case:
        FIRST[case] = time.perf_counter() - t0
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--mib", type=int, default=200)
    ap.add_argument("--files", type=int, default=4000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dockyard-bench-explain-", dir="/var/tmp"))
    d = Daemon(tmp, tmp / "data", tmp / "exec", tmp / "dy.sock", "dockyard-bench-explain")
    results: dict[str, list[float]] = {}
    info: dict[str, object] = {}
    try:
        d.start()
        d.api("POST", "/dockyard/images/bootstrap")
        steps = "".join(f"RUN echo -n {i} > /etc/step && echo {i} > /s{i}\n" for i in range(8))
        build_image(d, "bench-explain-10:1", f"FROM busybox\n{steps}COPY f /etc/f\n", {"f": b"x"})
        size = args.mib * (1 << 20) // args.files
        half = args.files // 2
        files = {f"a/d{i % 20}/f{i}": os.urandom(size) for i in range(half)}
        files |= {f"b/d{i % 20}/f{i}": os.urandom(size) for i in range(half, args.files)}
        big = (
            "FROM busybox\nCOPY a /srv/a\nCOPY b /srv/b\n"
            "RUN rm -rf /srv/a/d0 /srv/b/d1\n"
            "RUN for f in /srv/a/d2/*; do echo -n x > $f; done\n"
        )
        info["build 200 MiB s"] = round(build_image(d, "bench-explain-big:1", big, files), 2)

        def api(path: str) -> Callable[[], object]:
            def call() -> object:
                status, body = d.api("GET", path)
                assert status == 200, body
                return body

            return call

        def cli(*argv: str) -> Callable[[], object]:
            def call() -> object:
                return subprocess.run([*OURS, *argv], env=d.env(), check=True,
                                      capture_output=True)  # fmt: skip

            return call

        results["baseline: CLI `version`"] = timed(args.rounds, cli("version"))
        path = "/dockyard/images/bench-explain-10:1/explain?path=/etc/step"
        results["explain 10 layers (API)"] = timed(args.rounds, api(path), "explain")
        results["explain 10 layers (CLI)"] = timed(
            args.rounds, cli("explain", "bench-explain-10:1", "/etc/step")
        )
        results["image layers 200 MiB (API)"] = timed(
            args.rounds, api("/dockyard/images/bench-explain-big:1/layers"), "image layers"
        )
        results["image layers 200 MiB (CLI)"] = timed(
            args.rounds, cli("image", "layers", "bench-explain-big:1")
        )
        layers = d.api("GET", "/dockyard/images/bench-explain-big:1/layers")[1]
        info["big image bytes"] = layers["size"]
        info["big image wasted"] = layers["wasted_bytes"]
        info["big image efficiency"] = round(layers["efficiency"], 4)
        info["big image layers"] = len(layers["layers"])
    finally:
        d.stop()
        teardown_host_state(d)
        shutil.rmtree(tmp, ignore_errors=True)

    for case, first in FIRST.items():
        info[f"{case} first call (indexes read from disk) s"] = round(first, 3)
    for k, v in info.items():
        print(f"{k}: {v}")
    print(f"median of {args.rounds}, warm; target < 0.300 s")
    report: dict[str, object] = dict(info)
    for case, values in results.items():
        m = statistics.median(values)
        print(f"{case:30} {m:7.3f}s")
        report[case] = m
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "explain.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
