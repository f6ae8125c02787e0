"""An HTTP client for one repository on one registry (E5), on http.client: the `/v2/` API with
the auth handshake (a 401's challenge answered with Basic credentials or a Bearer token for the
request's scope, tokens reused), redirects (blob storage elsewhere), registry error bodies turned
into Docker's messages, and kept-alive connections shared by the session's threads."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dockyard import errors
from dockyard.distribution import tlserrors
from dockyard.distribution.auth import Challenge, Credentials, TokenCache, scope
from dockyard.distribution.endpoints import Endpoint, tls_context

log = logging.getLogger(__name__)
TIMEOUT = 60.0
USER_AGENT = "dockyard/24.0.0 (docker compatible)"


class RegistryError(Exception):
    """An error body from a registry: `code` is its errcode (MANIFEST_UNKNOWN, DENIED...)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code.lower().replace('_', ' ')}: {message}" if code else message)
        self.status = status
        self.code = code
        self.message = message


class TransportError(errors.Worded):
    """The endpoint could not be spoken to at all (refused, TLS failure, timeout)."""


def _verb(method: str) -> str:
    """Go's url.Error names the method so: `Get "https://...": ...`."""
    return method[:1] + method[1:].lower()


def _addresses(sock: socket.socket | None) -> tuple[str, str]:
    """host:port of both ends (IPv6 in brackets), or blanks for a closed socket."""

    def name(addr: Any) -> str:
        host, port = addr[0], addr[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    try:
        return (name(sock.getsockname()), name(sock.getpeername())) if sock else ("", "")
    except OSError:
        return "", ""


def registry_error(status: int, body: bytes, fallback: str, challenge: str = "") -> RegistryError:
    """The first error of a registry's error body. A 401 whose Bearer challenge says
    `error="insufficient_scope"` is a refusal (DENIED), as dockerd's client reads it."""
    if status == 401 and 'error="insufficient_scope"' in challenge:
        return RegistryError(status, "DENIED", "requested access to the resource is denied")
    try:
        doc = json.loads(body)
        first = (doc.get("errors") or [])[0]
        return RegistryError(status, str(first.get("code") or ""), str(first.get("message") or ""))
    except (ValueError, IndexError, AttributeError, TypeError):
        return RegistryError(status, "", fallback)


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    raw: http.client.HTTPResponse
    local: str = ""  # the connection's addresses, as Go names them in a read error
    peer: str = ""
    release: Callable[[bool], None] | None = None  # back to the pool (True) or closed (False)

    def header(self, name: str) -> str:
        return self.headers.get(name) or ""

    def read_error(self, e: BaseException) -> TransportError:
        """A body that could not be read to its end, in Go's words: `unexpected EOF` for one
        cut short, `read tcp A->B: read: connection reset by peer`..."""
        if isinstance(e, http.client.IncompleteRead):
            return TransportError("unexpected EOF")
        if isinstance(e, socket.timeout):
            reason = "i/o timeout"
        elif isinstance(e, OSError) and e.strerror:
            reason = "read: " + e.strerror[:1].lower() + e.strerror[1:]
        else:
            reason = str(e) or type(e).__name__
        return TransportError(
            f"read tcp {self.local}->{self.peer}: {reason}" if self.peer else reason
        )

    def read(self) -> bytes:
        data = self.raw.read()
        self._done()
        return data

    def close(self) -> None:
        """The connection goes back to its session's pool when the body was read to its end;
        one abandoned halfway still has bytes in flight, so it is closed instead."""
        if self.raw.isclosed():
            self._done()
        else:
            self.raw.close()
            if self.release is not None:
                self.release(False)
                self.release = None

    def _done(self) -> None:
        if self.release is not None:
            self.release(True)
            self.release = None


@dataclass
class Session:
    """Requests to one repository through one endpoint with one set of credentials."""

    endpoint: Endpoint
    repo: str  # the path on the registry: "library/busybox"
    creds: Credentials
    tokens: TokenCache
    _challenge: Challenge | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _idle: dict[tuple[str, str], list[http.client.HTTPConnection]] = field(default_factory=dict)
    _open: list[http.client.HTTPConnection] = field(default_factory=list)

    # ---- connections ----------------------------------------------------------------------
    # Kept-alive connections are shared by the session's threads (a push's HEADs, a pull's
    # downloads): one is taken for a request and given back once its answer was read to the
    # end, as Go's http.Transport does; a thread no longer opens a connection of its own.

    def _conn(self, scheme: str, host: str) -> http.client.HTTPConnection:
        with self._lock:
            idle = self._idle.get((scheme, host))
            if idle:
                return idle.pop()
        if scheme == "https":
            ctx = self.endpoint.ssl_context() if host == self.endpoint.host else None
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, timeout=TIMEOUT, context=ctx or tls_context()
            )
        else:
            conn = http.client.HTTPConnection(host, timeout=TIMEOUT)
        with self._lock:
            self._open.append(conn)
        return conn

    def _releaser(self, key: tuple[str, str], conn: http.client.HTTPConnection
                  ) -> Callable[[bool], None]:  # fmt: skip
        def release(reusable: bool) -> None:
            if not reusable:
                conn.close()
            with self._lock:
                if reusable and conn in self._open:  # not after close()
                    self._idle.setdefault(key, []).append(conn)

        return release

    def close(self) -> None:
        """Close every connection (the session is done; none may be in use)."""
        with self._lock:
            conns, self._open, self._idle = self._open, [], {}
        for conn in conns:
            conn.close()

    def _send(self, method: str, url: str, headers: dict[str, str], body: Any) -> Response:
        parts = urllib.parse.urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        for attempt in (0, 1):
            conn = self._conn(parts.scheme, parts.netloc)
            try:
                conn.request(
                    method, target, body=body, headers={"User-Agent": USER_AGENT, **headers}
                )
                ends = _addresses(conn.sock)  # before a `Connection: close` answer drops it
                raw = conn.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                conn.close()  # a kept-alive connection the server closed: try once more
                if attempt or (body is not None and not isinstance(body, bytes)):
                    raise TransportError(self._describe(method, url, e)) from None
                continue
            except (OSError, ssl.SSLError, http.client.HTTPException) as e:
                conn.close()
                raise TransportError(self._describe(method, url, e)) from None
            key = (parts.scheme, parts.netloc)
            return Response(raw.status, raw.headers, raw, *ends, self._releaser(key, conn))
        raise AssertionError("unreachable")

    @staticmethod
    def _describe(method: str, url: str, e: BaseException) -> str:
        """Go's url.Error for a request that got no answer, as dockerd words it."""
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e) or type(e).__name__
        parts = urllib.parse.urlsplit(url)
        if isinstance(e, ssl.SSLError):
            reason = tlserrors.describe(e, parts.hostname or "", parts.port or 443)
        elif isinstance(e, ConnectionRefusedError):
            reason = f"dial tcp {parts.netloc}: connect: connection refused"
        elif isinstance(e, socket.timeout):
            reason = "i/o timeout"
        return f'{_verb(method)} "{url}": {reason}'

    # ---- requests ---------------------------------------------------------------------------

    def url(self, path: str) -> str:
        """`path` below /v2/<repo>/ (or absolute: starting with /v2/ or a scheme)."""
        if "://" in path:
            return path
        if path.startswith("/v2/"):
            return self.endpoint.base + path
        return f"{self.endpoint.base}/v2/{self.repo}/{path}"

    def request(self, method: str, path: str, *, headers: dict[str, str] | None = None,
                body: Any = None, actions: str = "pull", extra_scopes: tuple[str, ...] = (),
                follow: bool = True, authenticate: bool = True) -> Response:  # fmt: skip
        """One request with the auth handshake; the caller reads and closes the response.
        Without `authenticate` a 401 is returned as is, its challenge kept (the /v2/ probe)."""
        url = self.url(path)
        hdrs = dict(headers or {})
        scopes = (scope(self.repo, actions), *extra_scopes)
        for tried in range(2):
            auth = self._authorization(scopes) if authenticate else ""
            if auth:
                hdrs["Authorization"] = auth
            elif authenticate and self._challenge is not None and self._challenge.scheme == "basic":
                # dockerd's client, asked for Basic auth with no credentials to give
                raise errors.System(f'{_verb(method)} "{url}": no basic auth credentials')
            resp = self._send(method, url, hdrs, body)
            if resp.status == 401 and not authenticate:
                self._challenge = Challenge.parse(resp.header("WWW-Authenticate"))
                break
            if resp.status != 401 or tried:
                break
            challenge = Challenge.parse(resp.header("WWW-Authenticate"))
            resp.read()
            if challenge is None:
                break
            self._challenge = challenge
            if hasattr(body, "seek"):
                body.seek(0)
        for _ in range(5):
            if not follow or resp.status not in (301, 302, 303, 307, 308):
                break
            location = urllib.parse.urljoin(url, resp.header("Location"))
            resp.read()
            url = location
            # Blob storage elsewhere gets no registry credentials.
            same = urllib.parse.urlsplit(location).netloc == self.endpoint.host
            resp = self._send(method if resp.status in (307, 308) else "GET", location,
                              {k: v for k, v in hdrs.items() if same or k != "Authorization"},
                              None)  # fmt: skip
        return resp

    def _authorization(self, scopes: tuple[str, ...]) -> str:
        ch = self._challenge
        if ch is None:
            return ""
        if ch.scheme == "basic":
            if self.creds.empty:
                return ""
            return self.creds.basic()
        if ch.scheme != "bearer":
            return ""
        if self.creds.registry_token:
            return f"Bearer {self.creds.registry_token}"
        # A token answers for whoever fetched it: the key carries the credentials (hashed), so
        # one client's token is never another's (an anonymous pull gets its own).
        key = (ch.params.get("realm", ""), ch.params.get("service", ""),
               " ".join(scopes) + "|" + self.creds.identity())  # fmt: skip
        token = self.tokens.get(key)
        if token is None:
            token, expires_in = self._fetch_token(ch, scopes)
            self.tokens.put(key, token, expires_in)
        return f"Bearer {token}" if token else ""

    def _fetch_token(self, ch: Challenge, scopes: tuple[str, ...]) -> tuple[str, int]:
        realm = ch.params.get("realm", "")
        if not realm:
            raise errors.Unauthorized("unauthorized: the registry's token challenge has no realm")
        query = [("service", ch.params.get("service", ""))] if ch.params.get("service") else []
        query += [("scope", s) for s in scopes]
        headers: dict[str, str] = {}
        if self.creds.identity_token:
            body = urllib.parse.urlencode([("grant_type", "refresh_token"), ("client_id", "docker"),
                                           ("refresh_token", self.creds.identity_token), *query])  # fmt: skip
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            resp = self._send("POST", realm, headers, body.encode())
        else:
            if not self.creds.empty:
                headers["Authorization"] = self.creds.basic()
            sep = "&" if "?" in realm else "?"
            resp = self._send("GET", realm + sep + urllib.parse.urlencode(query), headers, None)
        data = resp.read()
        if resp.status != 200:
            err = registry_error(resp.status, data, http.client.responses.get(resp.status, ""))
            raise errors.Unauthorized(
                f'Get "{realm}": {err}' if err.code else f"unauthorized: {err.message}"
            )
        try:
            doc = json.loads(data)
            token = str(doc.get("token") or doc.get("access_token") or "")
            return token, int(doc.get("expires_in") or 60)
        except (ValueError, AttributeError):
            raise errors.Unauthorized(
                "unauthorized: the token server's answer is not JSON"
            ) from None
