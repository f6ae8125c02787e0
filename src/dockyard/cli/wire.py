"""Minimal HTTP/1.1 over a unix socket. The stdlib http.client drags in email and ssl (about
35 ms of imports); the CLI needs only requests, Content-Length/chunked bodies and streaming."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any, BinaryIO


class Response:
    """A response whose body is read lazily: `read(n)` streams, chunked framing is removed."""

    def __init__(self, sock: socket.socket, method: str) -> None:
        self.sock = sock
        self.fp: BinaryIO = sock.makefile("rb")
        status_line = self.fp.readline().decode("latin-1").rstrip("\r\n")
        if not status_line.startswith("HTTP/"):
            raise OSError(f"malformed HTTP response: {status_line!r}")
        self.status = int(status_line.split(" ", 2)[1])
        self.headers: dict[str, str] = {}
        self._raw_headers: list[tuple[str, str]] = []
        while True:
            line = self.fp.readline().decode("latin-1").rstrip("\r\n")
            if not line:
                break
            key, _, value = line.partition(":")
            self._raw_headers.append((key.strip(), value.strip()))
            self.headers[key.strip().lower()] = value.strip()
        self.chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        length = self.headers.get("content-length")
        self.remaining: int | None = (
            int(length) if length is not None and not self.chunked else None
        )
        if method == "HEAD" or self.status in (204, 304) or 100 <= self.status < 200:
            self.remaining = 0
            self.chunked = False
        self.chunk_left = 0
        self.done = False

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def getheaders(self) -> list[tuple[str, str]]:
        return list(self._raw_headers)

    def _read_chunked(self, n: int) -> bytes:
        if self.chunk_left == 0:
            size_line = self.fp.readline()
            if not size_line:
                self.done = True
                return b""
            self.chunk_left = int(size_line.split(b";")[0].strip() or b"0", 16)
            if self.chunk_left == 0:
                # Trailer section ends with an empty line.
                while self.fp.readline() not in (b"\r\n", b"\n", b""):
                    pass
                self.done = True
                return b""
        data = self.fp.read(min(n, self.chunk_left))
        if not data:
            self.done = True
            return b""
        self.chunk_left -= len(data)
        if self.chunk_left == 0:
            self.fp.readline()
        return data

    def read1(self, n: int = 65536) -> bytes:
        """Return at most n bytes, as soon as any are available (for streams)."""
        if self.done:
            return b""
        if self.chunked:
            return self._read_chunked(n)
        if self.remaining is not None:
            if self.remaining == 0:
                self.done = True
                return b""
            n = min(n, self.remaining)
        data = self.fp.read1(n)  # type: ignore[attr-defined]
        if not data:
            self.done = True
        if self.remaining is not None:
            self.remaining -= len(data)
        return bytes(data)

    def read(self, n: int = -1) -> bytes:
        """Read n bytes (fewer only at EOF), or everything when n < 0."""
        parts: list[bytes] = []
        got = 0
        while n < 0 or got < n:
            data = self.read1(65536 if n < 0 else n - got)
            if not data:
                break
            parts.append(data)
            got += len(data)
        return b"".join(parts)

    def close(self) -> None:
        self.fp.close()
        self.sock.close()


class Connection:
    """One request and its response over a fresh unix-socket connection."""

    def __init__(self, path: str, timeout: float | None = None) -> None:
        self.path = path
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.method = "GET"

    def request(
        self, method: str, url: str, body: Any = None, headers: Mapping[str, str] | None = None
    ) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if self.timeout is not None:
            sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            raise
        self.sock, self.method = sock, method
        hdrs = {"Host": "localhost", "User-Agent": "dockyard-cli", **(headers or {})}
        streaming = hasattr(body, "read")
        if streaming:
            hdrs["Transfer-Encoding"] = "chunked"
        elif body is not None or method in ("POST", "PUT"):
            hdrs["Content-Length"] = str(len(body or b""))
        head = f"{method} {url} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
        sock.sendall(head.encode("latin-1") + b"\r\n")
        if streaming:
            while True:
                chunk = body.read(65536)
                if not chunk:
                    break
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sock.sendall(b"0\r\n\r\n")
        elif body:
            sock.sendall(body)

    def getresponse(self) -> Response:
        assert self.sock is not None
        return Response(self.sock, self.method)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
