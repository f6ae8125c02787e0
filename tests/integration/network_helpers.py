"""Helpers for the networking tests: run containers through our CLI, talk TCP from the host."""

from __future__ import annotations

import io
import socket
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.conftest import Daemon

HTTPD = "echo hello-$HOSTNAME > /index.html; exec httpd -f -p 80"


def run(d: Daemon, *args: str) -> str:
    """`dockyard run -d ...` -> container id; fails the test on a non-zero exit."""
    p = d.dockyard("run", "-d", *args)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def sh(d: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    return d.dockyard("run", "--rm", *args)


def inspect(d: Daemon, cid: str) -> Any:
    status, out = d.api("GET", f"/containers/{cid}/json")
    assert status == 200, out
    return out


def rm(d: Daemon, *cids: str) -> None:
    for cid in cids:
        d.api("DELETE", f"/containers/{cid}?force=1")


def http_get(host: str, port: int, timeout: float = 3.0) -> str:
    """One HTTP/1.0 GET from the host; the body's last line. Retries while the server starts."""
    deadline = time.time() + timeout
    last: Exception | None = None
    while time.time() < deadline:
        try:
            with socket.create_connection((host, port), timeout=timeout) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
            if data:
                return data.decode().strip().splitlines()[-1]
        except OSError as e:
            last = e
        time.sleep(0.05)
    raise AssertionError(f"no HTTP answer from {host}:{port}: {last}")


def nc_get(target: str, port: int) -> str:
    """A shell snippet for a container: GET through busybox nc, print the last line."""
    return f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {target} {port} | tail -n 1"


def veths_on(bridge: str) -> list[str]:
    out = subprocess.run(["ip", "-o", "link", "show", "master", bridge],
                         capture_output=True, text=True, check=False)  # fmt: skip
    return [ln.split(":")[1].strip().split("@")[0] for ln in out.stdout.splitlines()]


def nft_table(d: Daemon) -> str:
    out = subprocess.run(["nft", "list", "table", "ip", f"dockyard-{d.bridge}"],
                         capture_output=True, text=True, check=False)  # fmt: skip
    return out.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


UDP_ECHO_C = r"""
#include <arpa/inet.h>
#include <stdlib.h>
#include <sys/socket.h>
int main(int argc, char **argv) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0) return 1;
    char buf[2048];
    struct sockaddr_in p;
    for (;;) {
        socklen_t l = sizeof p;
        ssize_t n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&p, &l);
        if (n > 0) sendto(s, buf, n, 0, (struct sockaddr *)&p, l);
    }
}
"""


def import_udp_echo(d: Daemon, ref: str) -> None:
    """An image holding only a static UDP echo server (busybox nc has no UDP), via import."""
    with tempfile.TemporaryDirectory() as tmp:
        src, binary = Path(tmp) / "udpecho.c", Path(tmp) / "udpecho"
        src.write_text(UDP_ECHO_C)
        subprocess.run(["gcc", "-O2", "-static", "-o", str(binary), str(src)], check=True)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(binary, arcname="udpecho")
    repo, _, tag = ref.partition(":")
    status, out = d.api(
        "POST", f"/images/create?fromSrc=-&repo={repo}&tag={tag}", raw=buf.getvalue()
    )
    assert status == 200, out
