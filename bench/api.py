"""Per-request cost of the Engine API server: dockyard vs a real dockerd, interleaved in one run.

    .venv/bin/python bench/api.py [--rounds 20] [--batch 50] [--only dockyard] [--no-cli]

Small requests (`GET /_ping`, `GET /version`, `POST /volumes/create`, `GET /containers/json`)
sent by a tight raw-socket client (pre-built request bytes, a minimal response reader, so the
client's own cost is a few microseconds) in two modes: a new connection per request (the docker
CLI's pattern: one connection per command) and keep-alive (docker-py's). Then the same operations
through the official docker CLI. Prints per-request medians and ratios (dockyard / dockerd);
the issue 3 target is volume create <= 0.5x dockerd over the raw API.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from engine import Engine, timed  # noqa: E402
from tests import oracle as oracle_dockerd  # noqa: E402
from tests.conftest import Daemon, teardown_host_state  # noqa: E402

_names = itertools.count()
_RUN = os.getpid()  # unique names across runs: a repeated name would not be a create


def request_bytes(method: str, path: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: bench\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


class Client:
    """One HTTP/1.1 connection to a unix socket, re-opened on demand."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sock: socket.socket | None = None
        self.buf = b""

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.buf = b""

    def call(self, data: bytes) -> int:
        if self.sock is None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(self.path)
        self.sock.sendall(data)
        return self._response()

    def _fill(self) -> None:
        assert self.sock is not None
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def _response(self) -> int:
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])
        }
        if "content-length" in headers:
            n = int(headers["content-length"])
            while len(self.buf) < n:
                self._fill()
            self.buf = self.buf[n:]
        elif headers.get("transfer-encoding") == "chunked":
            while True:
                while b"\r\n" not in self.buf:
                    self._fill()
                size_line, _, rest = self.buf.partition(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                while len(rest) < size + 2:
                    self._fill()
                    size_line, _, rest = self.buf.partition(b"\r\n")
                self.buf = rest[size + 2 :]
                if size == 0:
                    break
        if status >= 400:
            raise RuntimeError(f"status {status}")
        return status


def cases() -> dict[str, Callable[[], bytes]]:
    return {
        "GET /_ping": lambda: request_bytes("GET", "/_ping"),
        "GET /version": lambda: request_bytes("GET", "/v1.41/version"),
        "POST /volumes/create": lambda: request_bytes(
            "POST",
            "/v1.41/volumes/create",
            json.dumps({"Name": f"ba{_RUN}-{next(_names)}"}).encode(),
        ),
        "GET /containers/json": lambda: request_bytes("GET", "/v1.41/containers/json"),
    }


def measure(sock: str, make: Callable[[], bytes], batch: int, keepalive: bool) -> list[float]:
    client = Client(sock)
    out = []
    try:
        for _ in range(batch):
            data = make()
            t0 = time.perf_counter()
            client.call(data)
            if not keepalive:
                client.close()
            out.append(time.perf_counter() - t0)
    finally:
        client.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--cli-rounds", type=int, default=15)
    ap.add_argument("--only", choices=["dockyard"], default=None)
    ap.add_argument("--no-cli", action="store_true")
    ap.add_argument("--hold", type=float, default=0.0, help="seconds to keep looping (profiling)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dockyard-bench-api-", dir="/var/tmp"))
    # --log-level info (the later flag wins): what users run; the fixture's debug costs per line
    d = Daemon(tmp, tmp / "data", tmp / "exec", tmp / "dy.sock", "dockyard-bench-api",
               extra_args=("--log-level", "info"))  # fmt: skip
    d.start()
    d.api("POST", "/dockyard/images/bootstrap")
    engines = [Engine("dockyard", d.env())]
    socks = {"dockyard": str(d.socket)}
    results: dict[str, dict[str, list[float]]] = {}
    stack = contextlib.ExitStack()
    try:
        if oracle_dockerd.available() and args.only is None:
            sock = stack.enter_context(oracle_dockerd.private_dockerd(tmp / "oracle"))
            engines.append(Engine("dockerd", dict(os.environ, DOCKER_HOST=f"unix://{sock}")))
            socks["dockerd"] = sock
        print(f"dockyard pid {d.proc.pid if d.proc else '?'}", flush=True)
        for e in engines:  # warm up both (imports, caches, SQLite pages)
            for make in cases().values():
                measure(socks[e.name], make, 20, True)
        deadline = time.monotonic() + args.hold
        while True:
            for _ in range(args.rounds):
                for case, make in cases().items():
                    for keepalive in (False, True):
                        mode = "keep-alive" if keepalive else "new conn"
                        for e in engines:
                            results.setdefault(f"API {case} ({mode})", {}).setdefault(
                                e.name, []
                            ).extend(measure(socks[e.name], make, args.batch, keepalive))
            if time.monotonic() >= deadline:
                break
        if not args.no_cli:
            cli = {
                "docker version": ("version",),
                "docker volume create": ("volume", "create"),
                "docker ps": ("ps",),
            }
            for _ in range(args.cli_rounds):
                for case, argv in cli.items():
                    for e in engines:
                        results.setdefault(case, {}).setdefault(e.name, []).append(
                            timed(lambda e=e, a=argv: e.docker(*a))
                        )
        for e in engines:  # the volumes made above, all unused
            names = e.docker("volume", "ls", "-q").split()
            for i in range(0, len(names), 200):
                e.docker("volume", "rm", *names[i : i + 200])
    finally:
        d.stop()
        teardown_host_state(d)
        stack.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{'case':42} {'dockyard':>10} {'dockerd':>10} {'ratio':>7}")
    report = {}
    for case, per in results.items():
        a = statistics.median(per["dockyard"])
        b = statistics.median(per["dockerd"]) if "dockerd" in per else None
        ratio = f"{a / b:.2f}" if b else "-"
        bms = f"{b * 1000:9.3f}ms" if b is not None else f"{'-':>11}"
        print(f"{case:42} {a * 1000:8.3f}ms {bms} {ratio:>7}")
        report[case] = {"dockyard": a, "dockerd": b, "ratio": a / b if b else None}
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "api.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
