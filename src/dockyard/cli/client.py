"""A Docker Engine API client over a unix socket (stdlib only): JSON calls, streamed bodies,
the attach/exec hijack, 8-byte frame demultiplexing and API version negotiation via /_ping."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, urlencode

from dockyard.cli.defaults import API_VERSION
from dockyard.cli.wire import Connection, Response

Query = Mapping[str, str | int | bool | list[str] | None]


class APIError(Exception):
    """The daemon answered with an error status; `message` is its `{"message": ...}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ConnectError(Exception):
    """The socket is missing or refuses connections."""


def _encode_query(query: Query | None) -> str:
    if not query:
        return ""
    pairs: list[tuple[str, str]] = []
    for key, value in query.items():
        if value is None:
            continue
        if isinstance(value, list):
            pairs.extend((key, v) for v in value)
            continue
        if isinstance(value, bool):
            value = "1" if value else "0"
        pairs.append((key, str(value)))
    return "?" + urlencode(pairs) if pairs else ""


def quote_path(part: str) -> str:
    return quote(part, safe="")


class Hijacked:
    """A raw bidirectional stream after `101 UPGRADED` (or a plain 200 body). Bytes that arrived
    with the response headers are served first."""

    def __init__(self, sock: socket.socket, leftover: bytes, content_type: str) -> None:
        self.sock = sock
        self.leftover = leftover
        self.multiplexed = "multiplexed" in content_type

    def recv(self, n: int = 65536) -> bytes:
        if self.leftover:
            data, self.leftover = self.leftover[:n], self.leftover[n:]
            return data
        return self.sock.recv(n)

    def read_exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.recv(n - len(buf))
            if not chunk:
                break
            buf += chunk
        return buf

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close_write(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.sock.close()


def frames(read_exact: Any) -> Iterator[tuple[int, bytes]]:
    """Demultiplex `[stream,0,0,0,len_be32] payload` frames until EOF."""
    while True:
        header = read_exact(8)
        if len(header) < 8:
            return
        stream, length = header[0], struct.unpack(">I", header[4:8])[0]
        payload = read_exact(length)
        yield stream, payload
        if len(payload) < length:
            return


class Client:
    """One client per CLI invocation. The first call negotiates the API version with /_ping,
    like the docker CLI, so an older daemon (the dockerd oracle) is spoken to in its version."""

    def __init__(self, socket_path: str, timeout: float | None = None) -> None:
        self.socket_path = socket_path
        self.timeout = timeout
        self._version: str | None = None
        self.server_headers: dict[str, str] = {}

    def _conn(self, timeout: float | None = None) -> Connection:
        return Connection(self.socket_path, timeout if timeout is not None else self.timeout)

    def ping(self, timeout: float | None = None) -> dict[str, str]:
        conn = self._conn(timeout)
        try:
            conn.request("GET", "/_ping")
            resp = conn.getresponse()
            resp.read()
        except OSError as exc:
            raise ConnectError(str(exc)) from exc
        finally:
            conn.close()
        self.server_headers = {k.lower(): v for k, v in resp.getheaders()}
        return self.server_headers

    @property
    def version(self) -> str:
        if self._version is None:
            server = self.ping().get("api-version", API_VERSION)
            ours = tuple(int(x) for x in API_VERSION.split("."))
            theirs = tuple(int(x) for x in server.split("."))
            self._version = server if theirs < ours else API_VERSION
        return self._version

    def url(self, path: str, query: Query | None = None) -> str:
        return f"/v{self.version}{path}{_encode_query(query)}"

    def request(
        self,
        method: str,
        path: str,
        query: Query | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Response:
        """Send a request and return the open response (caller reads or streams it).
        `body` is JSON-encoded unless it is bytes or a file-like object."""
        hdrs = dict(headers or {})
        data: Any = body
        if (
            body is not None
            and not isinstance(body, bytes | bytearray)
            and not hasattr(body, "read")
        ):
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        url = self.url(path, query)
        conn = self._conn(timeout)
        try:
            conn.request(method, url, body=data, headers=hdrs)
            resp = conn.getresponse()
        except OSError as exc:
            conn.close()
            raise ConnectError(str(exc)) from exc
        if resp.status >= 400:
            raw = resp.read()
            conn.close()
            raise APIError(resp.status, _error_message(raw))
        return resp

    def call(self, method: str, path: str, query: Query | None = None, body: Any = None) -> Any:
        """A request whose answer is JSON (or empty: returns None)."""
        resp = self.request(method, path, query, body)
        raw = resp.read()
        resp.close()
        if not raw:
            return None
        if "json" in (resp.getheader("Content-Type") or "json"):
            return json.loads(raw)
        return raw.decode(errors="replace")

    def get(self, path: str, query: Query | None = None) -> Any:
        return self.call("GET", path, query)

    def post(self, path: str, query: Query | None = None, body: Any = None) -> Any:
        return self.call("POST", path, query, body)

    def begin(self, method: str, path: str, query: Query | None = None) -> Callable[[], Any]:
        """Send a request, wait for its status and headers, and return a function that blocks
        for its JSON body. `run` uses it to register `wait` before `start`, so a fast exit is
        never missed: the daemon sends wait's headers once the waiter is registered (as
        dockerd does, and as the docker CLI waits for them); the request alone could reach
        the daemon after `start`'s, sent on another connection."""
        conn = self._conn()
        try:
            conn.request(method, self.url(path, query))
            resp = conn.getresponse()
        except OSError as exc:
            conn.close()
            raise ConnectError(str(exc)) from exc

        def result() -> Any:
            try:
                raw = resp.read()
            finally:
                conn.close()
            if resp.status >= 400:
                raise APIError(resp.status, _error_message(raw))
            return json.loads(raw) if raw.strip() else None

        return result

    def stream_json(self, resp: Response) -> Iterator[dict[str, Any]]:
        """Decode a body of concatenated JSON objects (pull/load progress, events)."""
        decoder = json.JSONDecoder()
        buf = ""
        while True:
            chunk = resp.read1(65536)
            if not chunk:
                break
            buf += chunk.decode(errors="replace")
            while True:
                buf = buf.lstrip()
                if not buf:
                    break
                try:
                    obj, end = decoder.raw_decode(buf)
                except ValueError:
                    break
                buf = buf[end:]
                yield obj

    def hijack(self, path: str, query: Query | None = None, body: Any = None) -> Hijacked:
        """POST with `Upgrade: tcp` and return the raw stream once the daemon answers 101."""
        payload = b"" if body is None else json.dumps(body).encode()
        head = [
            f"POST {self.url(path, query)} HTTP/1.1",
            "Host: localhost",
            "Connection: Upgrade",
            "Upgrade: tcp",
            "Content-Type: application/json",
            f"Content-Length: {len(payload)}",
        ]
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.socket_path)
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
            raw = b""
            while b"\r\n\r\n" not in raw:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectError("connection closed before the response")
                raw += chunk
        except OSError as exc:
            sock.close()
            raise ConnectError(str(exc)) from exc
        head_raw, _, rest = raw.partition(b"\r\n\r\n")
        lines = head_raw.decode(errors="replace").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        if status >= 400:
            rest = _read_error_body(sock, rest, headers)
            sock.close()
            raise APIError(status, _error_message(rest))
        return Hijacked(sock, rest, headers.get("content-type", ""))


def _read_error_body(sock: socket.socket, rest: bytes, headers: Mapping[str, str]) -> bytes:
    chunked = headers.get("transfer-encoding") == "chunked"
    length = int(headers.get("content-length", "-1"))
    while True:
        if chunked and b"0\r\n\r\n" in rest:
            break
        if not chunked and 0 <= length <= len(rest):
            break
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    if headers.get("transfer-encoding") == "chunked":
        out = b""
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line or b"0", 16)
            if size == 0:
                break
            out += rest[:size]
            rest = rest[size + 2 :]
        return out
    return rest


def _error_message(raw: bytes) -> str:
    text = raw.decode(errors="replace").strip()
    try:
        decoded = json.loads(text)
    except ValueError:
        return text
    if isinstance(decoded, dict) and "message" in decoded:
        return str(decoded["message"])
    return text
