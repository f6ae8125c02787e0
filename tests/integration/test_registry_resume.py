"""E5 (#13): a layer download that breaks off is retried and resumed within one pull, as dockerd
20.10 does: `Retrying in N seconds` counted down on the layer's line (5 s times the failures so
far), then a request for the rest only (`Range: bytes=N-`, N what already arrived) while the
extraction waits; a registry that ignores the Range sends the whole blob again and the bytes
already held are skipped; `--max-download-attempts` retries at most, then the pull fails with
Go's error and leaves nothing. A 5xx is retried, a 404 is not.

A TCP proxy on a free 127.0.0.1 port (`Proxy`, threads) stands between the daemon and a real
docker-registry: it records every request's headers and cuts the blob answers it is told to
after a number of body bytes (a FIN: a short body, or an RST), or answers them with an error
status. Only 127.0.0.1 is contacted. The first test runs on the shared daemon with dockerd's own
delay; the others on a private daemon whose countdown steps last 50 ms (D-registry-4)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests import registry as R
from tests.conftest import Daemon, private_daemon
from tests.integration.test_registry_pull import (
    Messages,
    content_blobs,
    failure,
    forget,
    image_list,
    inspect,
    layer_dirs,
    marker,
    pull,
    run_out,
    short,
    tmp_entries,
)

pytestmark = pytest.mark.integration

BIG = 4 * 1024 * 1024  # the layer that gets cut: random bytes, so its gzip blob is as big
UNIT = 0.05  # the private daemon's countdown step (dockerd's is a second)
RETRIES = 2  # the private daemon's --max-download-attempts


# ---------------------------------------------------------------------------------------------
# The proxy


@dataclass
class Cut:
    """What the proxy does to one answer for the blob: pass `after` bytes of its body and then
    close the connection (an RST with `reset`), or answer `status` itself."""

    after: int = 0
    reset: bool = False
    status: int = 0


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    status: int = 0  # the answer's status (the registry's, or the proxy's own)


@dataclass
class Proxy:
    upstream: int  # the registry's port
    digest: str  # the blob whose GETs are cut
    plan: list[Cut] = field(default_factory=list)  # one per GET of the blob, in order
    always: Cut | None = None  # for the GETs after the plan's
    ignore_range: bool = False  # drop Range on its way to the registry
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._clients: list[socket.socket] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def blob_requests(self) -> list[Seen]:
        return [s for s in self.seen if s.method == "GET" and s.path.endswith(self.digest)]

    def close(self) -> None:
        self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._accepting.join(5)
        for c in self._clients:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
        for t in self._threads:
            t.join(5)
        assert not any(t.is_alive() for t in [self._accepting, *self._threads])

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._clients.append(client)
            t = threading.Thread(target=self._serve, args=(client,), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, client: socket.socket) -> None:
        with client, contextlib.suppress(OSError):  # the daemon may hang up first
            client.settimeout(30)
            head = _read_head(client)
            if head is None:  # a TLS hello (the daemon tries HTTPS first) or nothing
                return
            request, *lines = head.decode("latin-1").split("\r\n")
            headers = [_header(line) for line in lines if line]  # a name may come twice
            method, path, _ = request.split(" ", 2)
            seen = Seen(method, path, {k.lower(): v for k, v in headers})
            cut = None
            with self._lock:
                self.seen.append(seen)
                if method == "GET" and path.endswith(f"/blobs/{self.digest}"):
                    cut = self.plan.pop(0) if self.plan else self.always
            if cut is not None and cut.status:
                seen.status = cut.status
                client.sendall(f"HTTP/1.1 {cut.status} Oops\r\nContent-Length: 0\r\n"
                               "Connection: close\r\n\r\n".encode())  # fmt: skip
                return
            dropped = {"connection", "keep-alive"} | ({"range"} if self.ignore_range else set())
            out = [request, *(f"{k}: {v}" for k, v in headers if k.lower() not in dropped)]
            out.append("Connection: close")  # one request a connection: the body ends at EOF
            with socket.create_connection(("127.0.0.1", self.upstream), timeout=30) as up:
                up.sendall(("\r\n".join(out) + "\r\n\r\n").encode("latin-1"))
                self._relay(up, client, seen, cut)

    def _relay(self, up: socket.socket, client: socket.socket, seen: Seen, cut: Cut | None) -> None:
        answer = _read_head(up, keep_rest=True)
        assert answer is not None
        end = answer.index(b"\r\n\r\n") + 4
        seen.status = int(answer.split(b" ", 2)[1])
        client.sendall(answer[:end])
        body, passed = answer[end:], 0
        while True:
            if cut is not None and passed + len(body) >= cut.after:
                client.sendall(body[: cut.after - passed])
                if cut.reset:
                    time.sleep(0.3)  # let the daemon read what came before the reset
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                else:
                    client.shutdown(socket.SHUT_WR)  # a FIN: the body ends short
                return
            client.sendall(body)
            passed += len(body)
            body = up.recv(1 << 16)
            if not body:
                return


def _read_head(sock: socket.socket, keep_rest: bool = False) -> bytes | None:
    """Bytes up to the end of an HTTP head (and whatever came with it, when `keep_rest`)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(1 << 16)
        if not chunk or (not data and not chunk[:1].isalpha()):
            return None
        data += chunk
    return data if keep_rest else data[: data.index(b"\r\n\r\n")]


def _header(line: str) -> tuple[str, str]:
    name, _, value = line.partition(":")
    return name.strip(), value.strip()


@dataclass
class Image:
    name: str  # through the proxy: 127.0.0.1:PROXY/t/app (tag 1)
    config: str
    big: str  # the big layer's blob digest
    big_sha256: str  # of /big's content

    @property
    def ref(self) -> str:
        return f"{self.name}:1"


@pytest.fixture(scope="module")
def fast() -> Iterator[Daemon]:
    """A daemon that retries twice, its countdown 20 times dockerd's pace."""
    with private_daemon("-rr", f"dyq{os.getpid()}", "--max-download-attempts", str(RETRIES),
                        "--download-retry-unit", str(UNIT)) as d:  # fmt: skip
        yield d


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Proxy, Image]]:
    """A registry holding a busybox image with a big random top layer (t/app:1), and a proxy
    in front of it that cuts nothing yet."""
    big = os.urandom(BIG)
    R.oci_layout(tmp_path / "img", [{**R.busybox_files((*R.BUSYBOX_APPLETS, "sha256sum")), **marker()}, {"big": big}],
                 platforms=[R.host_platform()])  # fmt: skip
    with R.registry(tmp_path) as reg:
        R.skopeo_push(tmp_path / "img", "t/app:1", reg, fmt="v2s2")
        man = R.manifest(reg, "t/app:1")[2]
        proxy = Proxy(reg.port, man["layers"][1]["digest"])
        try:
            yield proxy, Image(f"{proxy.host}/t/app", man["config"]["digest"],
                               man["layers"][1]["digest"], hashlib.sha256(big).hexdigest())  # fmt: skip
        finally:
            proxy.close()


def retrying(msgs: Messages, blob: str) -> list[str]:
    """The layer's `Retrying in ...` messages, in order."""
    return [m["status"] for m in msgs if m.get("id") == short(blob)
            and m["status"].startswith("Retrying in")]  # fmt: skip


def countdown(*failures: int) -> list[str]:
    """dockerd's countdowns after these failures: 5 s times the failure's number, each second."""
    return [f"Retrying in {n} second{'s' if n != 1 else ''}"
            for k in failures for n in range(5 * k, 0, -1)]  # fmt: skip


def assert_pulled_once(d: Daemon, msgs: Messages, img: Image) -> None:
    """The pull worked: Id is the config digest; the big layer was extracted in one pass (its
    Extracting counter never went back, one Pull complete) and /big has its bytes."""
    assert failure(200, msgs) == "", msgs
    assert inspect(d, img.ref)["Id"] == img.config
    mine = [m for m in msgs if m.get("id") == short(img.big)]
    extracting = [m["progressDetail"]["current"] for m in mine if m["status"] == "Extracting"]
    assert extracting and extracting == sorted(extracting), extracting
    assert [m["status"] for m in mine].count("Pull complete") == 1
    assert run_out(d, img.ref, "sha256sum", "/big").split()[0] == img.big_sha256


def ranges(proxy: Proxy) -> list[str | None]:
    return [s.headers.get("range") for s in proxy.blob_requests()]


# ---------------------------------------------------------------------------------------------
# Tests


def test_cut_once_resumes_after_dockerds_delay(daemon: Daemon, setup: tuple[Proxy, Image]) -> None:
    """E5 (#13): the big layer's answer ends short after 1.5 MB (a FIN): the layer's line counts
    down dockerd's 5 seconds (`Retrying in 5 seconds` ... `Retrying in 1 second`, a second
    each), the second request asks `Range: bytes=1500000-` and gets a 206, the image's Id is its
    config digest and /big is intact; no other blob is fetched twice."""
    proxy, img = setup
    proxy.plan = [Cut(after=1_500_000)]
    try:
        started = time.monotonic()
        status, msgs = pull(daemon, img.name, "1")
        took = time.monotonic() - started
        assert status == 200, msgs
        assert retrying(msgs, img.big) == countdown(1)
        assert took >= 5, took
        assert ranges(proxy) == [None, "bytes=1500000-"]
        assert [s.status for s in proxy.blob_requests()] == [200, 206]
        gets = [s.path for s in proxy.seen if s.method == "GET" and "/blobs/" in s.path]
        assert len(gets) == len(set(gets)) + 1, gets  # the big blob's second GET only
        assert_pulled_once(daemon, msgs, img)
    finally:
        forget(daemon, proxy.host)


def test_cut_twice_resumes_from_each_end(fast: Daemon, setup: tuple[Proxy, Image]) -> None:
    """E5 (#13): cut after 1 MB, then the resumed answer after 1.2 MB more: three requests
    (none, `bytes=1000000-`, `bytes=2200000-`), countdowns of 5 then 10 steps, one pass of
    extraction, /big intact."""
    proxy, img = setup
    proxy.plan = [Cut(after=1_000_000), Cut(after=1_200_000)]
    try:
        status, msgs = pull(fast, img.name, "1")
        assert status == 200, msgs
        assert ranges(proxy) == [None, "bytes=1000000-", "bytes=2200000-"]
        assert [s.status for s in proxy.blob_requests()] == [200, 206, 206]
        assert retrying(msgs, img.big) == countdown(1, 2)
        assert_pulled_once(fast, msgs, img)
    finally:
        forget(fast, proxy.host)


def test_a_registry_ignoring_range_sends_it_all_again(
    fast: Daemon, setup: tuple[Proxy, Image]
) -> None:
    """E5 (#13): the registry answers the resumed request with 200 and the whole blob (the proxy
    drops the Range): the download starts over at byte 0, skips what it holds, and the blob is
    still verified: the pull works, the kept blob hashes to its digest, /big is intact."""
    proxy, img = setup
    proxy.plan = [Cut(after=1_500_000)]
    proxy.ignore_range = True
    try:
        status, msgs = pull(fast, img.name, "1")
        assert status == 200, msgs
        assert ranges(proxy) == [None, "bytes=1500000-"]
        assert [s.status for s in proxy.blob_requests()] == [200, 200]
        assert retrying(msgs, img.big) == countdown(1)
        assert_pulled_once(fast, msgs, img)
        kept = fast.data_root / "content/sha256" / img.big.removeprefix("sha256:")
        assert "sha256:" + hashlib.sha256(kept.read_bytes()).hexdigest() == img.big
    finally:
        forget(fast, proxy.host)


@pytest.mark.parametrize("reset", [False, True], ids=["short", "reset"])
def test_cut_every_time_fails_after_the_retries(
    fast: Daemon, setup: tuple[Proxy, Image], reset: bool
) -> None:
    """E5 (#13): every answer for the big blob breaks off: after the first attempt and
    --max-download-attempts (2) retries, with 5 and 10 second countdowns, the pull fails with
    Go's error (`unexpected EOF` for a short body, `read tcp A->B: read: connection reset by
    peer` for a reset), and nothing is left: no image, layer, blob or temporary file."""
    proxy, img = setup
    proxy.always = Cut(after=1_048_576, reset=reset)
    before = image_list(fast), layer_dirs(fast), content_blobs(fast), tmp_entries(fast)
    try:
        status, msgs = pull(fast, img.name, "1")
        error = failure(status, msgs)
        if reset:
            assert re.fullmatch(r"read tcp 127\.0\.0\.1:\d+->127\.0\.0\.1:\d+: read: connection "
                                r"reset by peer", error), error  # fmt: skip
        else:
            assert error == "unexpected EOF", msgs
        assert len(proxy.blob_requests()) == 1 + RETRIES
        assert retrying(msgs, img.big) == countdown(1, 2)
        assert (
            image_list(fast),
            layer_dirs(fast),
            content_blobs(fast),
            tmp_entries(fast),
        ) == before
    finally:
        forget(fast, proxy.host)


def test_a_5xx_is_retried_a_404_is_not(fast: Daemon, setup: tuple[Proxy, Image]) -> None:
    """E5 (#13): as dockerd's blob reader, a failed request for a blob is sent once more at once
    (a lone 503 costs no countdown); two 503s in a row fail the attempt, which is retried after
    the countdown, and the pull works. A 404 is not retried: two requests, no countdown, and
    dockerd's `unknown blob`."""
    proxy, img = setup
    proxy.plan = [Cut(status=503)]
    try:
        status, msgs = pull(fast, img.name, "1")
        assert [s.status for s in proxy.blob_requests()] == [503, 200]
        assert retrying(msgs, img.big) == []
        assert_pulled_once(fast, msgs, img)
        forget(fast, proxy.host)

        proxy.seen.clear()
        proxy.plan = [Cut(status=503), Cut(status=503)]
        status, msgs = pull(fast, img.name, "1")
        assert [s.status for s in proxy.blob_requests()] == [503, 503, 200]
        assert retrying(msgs, img.big) == countdown(1)
        assert ranges(proxy) == [None, None, None]
        assert_pulled_once(fast, msgs, img)
        forget(fast, proxy.host)

        proxy.seen.clear()
        proxy.always = Cut(status=404)
        status, msgs = pull(fast, img.name, "1")
        assert failure(status, msgs) == "unknown blob", msgs
        assert [s.status for s in proxy.blob_requests()] == [404, 404]
        assert retrying(msgs, img.big) == []
    finally:
        forget(fast, proxy.host)
