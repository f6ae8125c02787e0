"""Real registries for the registry tests (#13, E5: pull/push/login/mirrors over the OCI
distribution protocol), started and stopped by the tests themselves on 127.0.0.1 (or on an address
of the test's own, tests/ownaddress.py).

- `registry()` runs Debian's `docker-registry` (distribution 2.8) on a free loopback port with its
  own config, storage and log under the test's directory: open, with Basic auth (an htpasswd file,
  bcrypt), or with Docker's token auth, in which case the harness also runs a small token server
  (RS256 JWTs, the signing certificate in the `x5c` header, every request recorded so a test can
  assert which scopes a client asked for); optionally over HTTPS with a test CA (a certificate
  for another name on request, and client certificates required on request), and optionally as
  a pull-through cache (`proxy_of`) of another registry, the way a mirror works.
- `oci_layout()` writes an OCI image layout (one manifest per platform, an image index for more
  than one) with real, deterministic tar layers, gzip, zstd or uncompressed; `busybox_layout()`
  makes one that runs (the host's static busybox), so no daemon is needed to make test images.
- `skopeo_push()` / `skopeo_pull()` / `skopeo_inspect()` move images with skopeo, an independent
  client, so a test of dockyard's push can be checked by another client's pull and the reverse.
- `http_get()` asks the registry directly (catalog, tags, HEAD of manifests, blobs), doing the
  Basic or token dance itself, for assertions on what a registry really holds.

Nothing here reads or changes the host's configuration: skopeo runs with --insecure-policy and
its own registries.conf, registries.d, blob info cache and auth (always `--*-creds` or
`--*-no-creds`); every process is stopped when its context exits, and all files stay under the
directory the test gives.
"""

from __future__ import annotations

import base64
import contextlib
import email.message
import gzip
import hashlib
import http.client
import io
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tarfile
import tempfile
import threading
import time
import urllib.parse
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REGISTRY_BIN = "/usr/bin/docker-registry"
BUSYBOX_BIN = "/usr/bin/busybox"

OCI_LAYOUT_VERSION = "1.0.0"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
}
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
# What a client that understands everything sends; distribution 2.8 answers 404 for an OCI
# manifest when the Accept header does not name the OCI type.
MANIFEST_ACCEPT = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST))

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"

# Fixed times keep layouts byte-for-byte reproducible (same content, same digests).
CREATED = "2024-01-01T00:00:00Z"
_TAR_MTIME = 1704067200
DEFAULT_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BUSYBOX_APPLETS = ("sh", "echo", "cat", "sleep", "true", "false", "ls", "env", "id", "test")

TOKEN_TTL = 300


# ---------------------------------------------------------------------------------------------
# The registry and its token server


@dataclass
class TokenRequest:
    """One request the harness's token server answered (or refused)."""

    method: str  # GET (Docker's flow) or POST (the OAuth2 password grant)
    service: str
    scopes: list[str]  # as asked, e.g. "repository:team/app:pull,push"
    user: str | None  # the user named in the request (None: anonymous)
    authenticated: bool  # the credentials were right
    access: list[dict[str, Any]]  # what the token grants: [{type, name, actions}]
    status: int


def default_policy(user: str | None, typ: str, name: str, actions: list[str]) -> list[str]:
    """Who may do what with a token: the registry's user everything it asks for; anonymous
    clients pull from repositories under `public/`, and nothing else."""
    if user is not None:
        return list(actions)
    if typ == "repository" and name.startswith("public/") and "pull" in actions:
        return ["pull"]
    return []


@dataclass
class Registry:
    """A running docker-registry; `host` is what goes in image references (ADDRESS:PORT)."""

    base: Path  # this registry's own directory (config, storage, certificates, log)
    host: str
    url: str  # http(s)://ADDRESS:PORT
    auth: str | None  # None, "basic" or "token"
    user: str | None
    password: str | None
    storage: Path
    config: Path
    log: Path
    ca_cert: Path | None = None  # the test CA (tls=True): trust it to talk to this registry
    certs_d: Path | None = None  # a certs.d tree: certs_d/HOST/ca.crt, as dockerd reads it
    # client_certs=True: the client certificate and key the registry accepts (also in certs_d/HOST
    # as client.cert and client.key)
    client_cert: tuple[Path, Path] | None = None
    proxy_of: str | None = None
    service: str = ""  # token auth: the service (the JWT audience) and issuer
    issuer: str = ""
    realm: str | None = None  # token auth: the token server's URL
    token_requests: list[TokenRequest] = field(default_factory=list)
    # token auth: decides the actions a token grants; a test may replace it
    policy: Callable[[str | None, str, str, list[str]], list[str]] = default_policy
    proc: subprocess.Popen[bytes] | None = None
    _token_server: _TokenServer | None = None

    @property
    def port(self) -> int:
        return int(self.host.rsplit(":", 1)[1])

    @property
    def cert_dir(self) -> Path | None:
        """The directory skopeo's --*-cert-dir takes (holds ca.crt), None without TLS."""
        return self.certs_d / self.host if self.certs_d else None

    @property
    def creds(self) -> tuple[str, str] | None:
        return (self.user, self.password) if self.user and self.password else None

    def scopes_requested(self, *, authenticated: bool | None = None) -> list[str]:
        """Every scope asked of the token server so far, in order (optionally only those asked
        with right credentials, or only anonymously)."""
        return [
            s
            for r in self.token_requests
            if authenticated is None or r.authenticated == authenticated
            for s in r.scopes
        ]

    def token(self, *scopes: str, creds: tuple[str, str] | None = None, anon: bool = False) -> str:
        """A token from this registry's token server (recorded like any client's request), with
        the registry's own credentials unless `creds` or `anon`."""
        assert self.realm, "not a token-auth registry"
        who = None if anon else (creds or self.creds)
        return fetch_token(self.realm, self.service, list(scopes), who, self.ca_cert)

    def docker_config(self, dest: Path, creds: tuple[str, str] | None = None) -> Path:
        """Write `dest/config.json` with this registry's credentials, as `docker login` stores
        them (for DOCKER_CONFIG); returns the file."""
        user, password = creds or self.creds or ("", "")
        dest.mkdir(parents=True, exist_ok=True)
        cfg = {
            "auths": {self.host: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}}
        }
        (dest / "config.json").write_text(json.dumps(cfg))
        return dest / "config.json"

    def requests(self) -> list[tuple[str, str, int]]:
        """(method, path, status) of every request in the registry's access log so far."""
        out = []
        for m in _ACCESS_LINE.finditer(self.log.read_text(errors="replace")):
            out.append((m["method"], m["path"], int(m["status"])))
        return out

    def stop(self) -> None:
        """Stop the registry (SIGTERM, then SIGKILL) and the token server; idempotent."""
        if self.proc is not None:
            _terminate(self.proc)
        if self._token_server is not None:
            self._token_server.close()
            self._token_server = None


# 127.0.0.1 - - [01/Jan/2024:00:00:00 +0000] "GET /v2/ HTTP/1.1" 401 87 "" "skopeo/1.9.3"
_ACCESS_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3}) ')


def _terminate(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port on `address` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


def _run(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[bytes]:
    p = subprocess.run(argv, capture_output=True, timeout=120, **kw)
    if p.returncode != 0:
        raise RuntimeError(
            f"{argv[0]} failed ({p.returncode}): {p.stderr.decode(errors='replace')}"
        )
    return p


def bcrypt_htpasswd(user: str, password: str) -> str:
    """An htpasswd line with a bcrypt hash ($2y$, as Apache's htpasswd -B writes), the only kind
    distribution accepts. glibc's libxcrypt makes it through the stdlib's `crypt` ($2b$, the same
    algorithm), so no dependency is needed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

    hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 5))
    if not hashed or not hashed.startswith("$2b$"):
        raise RuntimeError("this libc's crypt() does not make bcrypt hashes")
    return f"{user}:$2y${hashed[4:]}\n"


def make_ca(dest: Path) -> tuple[Path, Path]:
    """A throwaway test CA (EC P-256, one day): (certificate, key)."""
    dest.mkdir(parents=True, exist_ok=True)
    crt, key = dest / "ca.crt", dest / "ca.key"
    _run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
          "-nodes", "-keyout", str(key), "-out", str(crt), "-days", "1",
          "-subj", "/CN=dockyard test CA",
          "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign"])  # fmt: skip
    return crt, key


def make_server_cert(
    dest: Path,
    ca: tuple[Path, Path],
    *,
    name: str = "server",
    san: str = "IP:127.0.0.1,DNS:localhost",
) -> tuple[Path, Path]:
    """A server certificate signed by `ca` for the subjectAltName `san`: (NAME.crt, NAME.key)."""
    return _signed_cert(
        dest / f"{name}.crt", ca, f"subjectAltName={san}\nextendedKeyUsage=serverAuth"
    )


def make_client_cert(
    dest: Path, ca: tuple[Path, Path], *, name: str = "client"
) -> tuple[Path, Path]:
    """A client certificate signed by `ca` (TLS client authentication), named as certs.d wants
    it: (NAME.cert, NAME.key)."""
    return _signed_cert(dest / f"{name}.cert", ca, "extendedKeyUsage=clientAuth")


def _signed_cert(crt: Path, ca: tuple[Path, Path], extensions: str) -> tuple[Path, Path]:
    """An EC P-256 certificate at `crt` (its key beside it, NAME.key), valid for a day, signed by
    `ca`, with `extensions` (openssl's extfile lines) besides a leaf's usual ones."""
    key, csr, ext = crt.with_suffix(".key"), crt.with_suffix(".csr"), crt.with_suffix(".ext")
    _run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
          "-keyout", str(key), "-out", str(csr), "-subj", f"/CN=dockyard test {crt.stem}"])  # fmt: skip
    ext.write_text(
        f"{extensions}\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
    )
    _run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
          "-set_serial", str(secrets.randbits(63)), "-days", "1", "-extfile", str(ext),
          "-out", str(crt)])  # fmt: skip
    return crt, key


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, unverified (for assertions on what a token grants)."""
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


class _TokenServer:
    """Docker's token flow for one registry: GET /token (Basic or anonymous) and POST /token
    (OAuth2 password grant), RS256 JWTs carrying the signing certificate in `x5c`."""

    def __init__(self, reg: Registry, key: Path, cert: Path, tls: ssl.SSLContext | None) -> None:
        self.reg = reg
        self.key = key
        self.x5c = base64.b64encode(ssl.PEM_cert_to_DER_cert(cert.read_text())).decode()
        self.lock = threading.Lock()
        self.log = open(reg.base / "token-server.log", "a")  # noqa: SIM115 - closed in close()
        handler = type("Handler", (_TokenHandler,), {"tokens": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, daemon=True, name=f"token-server-{self.port}"
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)
        self.log.close()

    def sign(self, user: str | None, access: list[dict[str, Any]]) -> str:
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        claims = {
            "iss": self.reg.issuer,
            "sub": user or "",
            "aud": self.reg.service,
            "exp": now + TOKEN_TTL,
            "nbf": now - 1,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": access,
        }
        signing_input = (
            b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        sig = _run(
            ["openssl", "dgst", "-sha256", "-sign", str(self.key)], input=signing_input.encode()
        ).stdout
        return f"{signing_input}.{b64url(sig)}"

    def grant(self, user: str | None, scopes: list[str]) -> list[dict[str, Any]]:
        access = []
        for scope in scopes:
            parts = scope.split(":")
            if len(parts) < 3:
                continue
            typ, name, actions = parts[0], ":".join(parts[1:-1]), parts[-1].split(",")
            granted = self.reg.policy(user, typ, name, actions)
            if granted:
                access.append({"type": typ, "name": name, "actions": granted})
        return access

    def record(self, req: TokenRequest) -> None:
        with self.lock:
            self.reg.token_requests.append(req)


class _TokenHandler(BaseHTTPRequestHandler):
    tokens: _TokenServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        self.tokens.log.write(f"{self.address_string()} {format % args}\n")
        self.tokens.log.flush()

    def _send(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _check(self, user: str | None, password: str | None) -> bool:
        reg = self.tokens.reg
        return user is not None and user == reg.user and password == reg.password

    def _answer(
        self,
        method: str,
        service: str,
        scopes: list[str],
        user: str | None,
        password: str | None,
        *,
        oauth: bool,
    ) -> None:
        reg = self.tokens.reg
        if user is not None and not self._check(user, password):
            self.tokens.record(TokenRequest(method, service, scopes, user, False, [], 401))
            self._send(
                401,
                {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]},
                {"WWW-Authenticate": 'Basic realm="dockyard-test-token"'},
            )
            return
        if service != reg.service:
            self.tokens.record(
                TokenRequest(method, service, scopes, user, user is not None, [], 400)
            )
            self._send(
                400, {"errors": [{"code": "DENIED", "message": f"unknown service {service!r}"}]}
            )
            return
        access = self.tokens.grant(user, scopes)
        self.tokens.record(
            TokenRequest(method, service, scopes, user, user is not None, access, 200)
        )
        token = self.tokens.sign(user, access)
        issued = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body: dict[str, Any] = {"access_token": token, "expires_in": TOKEN_TTL, "issued_at": issued}
        if oauth:
            body["scope"] = " ".join(scopes)
        else:
            body["token"] = token
        self._send(200, body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/token":
            self._send(404, {"errors": [{"code": "NOT_FOUND", "message": url.path}]})
            return
        q = urllib.parse.parse_qs(url.query)
        scopes = [s for v in q.get("scope", []) for s in v.split()]
        user = password = None
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                user, password = "", None
        self._answer("GET", q.get("service", [""])[0], scopes, user, password, oauth=False)

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        length = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        one = {k: v[0] for k, v in form.items()}
        scopes = [s for v in form.get("scope", []) for s in v.split()]
        if urllib.parse.urlsplit(self.path).path != "/token":
            self._send(404, {"errors": [{"code": "NOT_FOUND", "message": self.path}]})
        elif one.get("grant_type") != "password":
            # No refresh tokens are ever issued, so the refresh_token grant cannot succeed.
            self.tokens.record(
                TokenRequest("POST", one.get("service", ""), scopes, None, False, [], 400)
            )
            self._send(400, {"error": "unsupported_grant_type"})
        else:
            self._answer(
                "POST",
                one.get("service", ""),
                scopes,
                one.get("username", ""),
                one.get("password"),
                oauth=True,
            )


def _registry_env(proxy_ca: Path | None) -> dict[str, str]:
    # REGISTRY_* variables override the config file; none may leak in from the environment.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REGISTRY_", "SSL_CERT_"))}
    if proxy_ca is not None:
        env["SSL_CERT_FILE"] = str(proxy_ca)  # Go on Linux: these roots instead of the system's
    return env


def _ssl_context(ca_cert: Path | None, client: tuple[Path, Path] | None,
                 check_hostname: bool) -> ssl.SSLContext:  # fmt: skip
    ctx = ssl.create_default_context(cafile=str(ca_cert) if ca_cert is not None else None)
    ctx.check_hostname = check_hostname
    if client is not None:
        ctx.load_cert_chain(*client)
    return ctx


def _connection(url: str, ca_cert: Path | None, timeout: float = 30,
                client: tuple[Path, Path] | None = None,
                check_hostname: bool = True) -> http.client.HTTPConnection:  # fmt: skip
    u = urllib.parse.urlsplit(url)
    if u.scheme == "https":
        ctx = _ssl_context(ca_cert, client, check_hostname)
        return http.client.HTTPSConnection(u.netloc, timeout=timeout, context=ctx)
    return http.client.HTTPConnection(u.netloc, timeout=timeout)


@contextmanager
def registry(
    base: Path,
    *,
    auth: str | None = None,
    tls: bool = False,
    address: str = "127.0.0.1",
    san: str | None = None,
    client_certs: bool = False,
    proxy_of: str | None = None,
    proxy_auth: tuple[str, str] | None = None,
    proxy_ca: Path | None = None,
) -> Iterator[Registry]:
    """Run a docker-registry on a free port of `address` (127.0.0.1, or an address the test made,
    tests/ownaddress.py: no other), its files in a new directory under `base`; yield it once it
    answers GET /v2/, stop it (and its token server) after and remove its storage (the blobs; its config
    and log stay with the test's files).

    auth: None (open), "basic" (htpasswd) or "token" (the harness's token server). tls: serve
    HTTPS with a certificate from a new test CA (`Registry.ca_cert`) for the subjectAltName `san`
    (default `IP:<address>,DNS:localhost`; another name makes a certificate that does not match).
    client_certs (with tls): require a client certificate signed by the test CA (distribution's
    `http.tls.clientcas`), made as `Registry.client_cert`. proxy_of: the URL of another
    registry this one caches (a pull-through mirror), with `proxy_auth` as its credentials there
    and `proxy_ca` the CA it trusts for it (an https one: the other registry's `ca_cert`).
    distribution 2.8 asks the remote's /v2/ once at start and gives `proxy_auth` to the Bearer
    realms it names only: a mirror of a Basic-auth registry cannot log in (it answers "manifest
    unknown"), so mirror an open or a token-auth registry.
    """
    if auth not in (None, "basic", "token"):
        raise ValueError(f"auth must be None, 'basic' or 'token', not {auth!r}")
    if (san is not None or client_certs) and not tls:
        raise ValueError("san and client_certs need tls=True")
    base.mkdir(parents=True, exist_ok=True)
    own = Path(tempfile.mkdtemp(prefix="registry-", dir=base))
    reg = Registry(
        base=own,
        host="",
        url="",
        auth=auth,
        user=None,
        password=None,
        storage=own / "storage",
        config=own / "config.yml",
        log=own / "registry.log",
        proxy_of=proxy_of,
    )
    reg.storage.mkdir()
    try:
        cfg = _base_config(reg)
        server_tls: ssl.SSLContext | None = None
        if tls:
            ca = make_ca(own / "ca")
            crt, key = make_server_cert(own / "ca", ca, san=san or f"IP:{address},DNS:localhost")
            reg.ca_cert = ca[0]
            cfg["http"]["tls"] = {"certificate": str(crt), "key": str(key)}
            if client_certs:
                reg.client_cert = make_client_cert(own / "ca", ca)
                cfg["http"]["tls"]["clientcas"] = [str(ca[0])]
            server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            server_tls.load_cert_chain(crt, key)
        if auth is not None:
            reg.user, reg.password = "dockyard", "s3cret-" + secrets.token_hex(4)
        if auth == "basic":
            htpasswd = own / "htpasswd"
            htpasswd.write_text(bcrypt_htpasswd(reg.user or "", reg.password or ""))
            cfg["auth"] = {"htpasswd": {"realm": "dockyard-test", "path": str(htpasswd)}}
        elif auth == "token":
            key, cert = own / "token.key", own / "token.crt"
            _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                  "-out", str(cert), "-days", "1", "-subj", "/CN=dockyard test token issuer"])  # fmt: skip
            reg.service, reg.issuer = "dockyard-test-registry", "dockyard-test-token-issuer"
            reg._token_server = _TokenServer(reg, key, cert, server_tls)
            scheme = "https" if tls else "http"
            reg.realm = f"{scheme}://127.0.0.1:{reg._token_server.port}/token"
            cfg["auth"] = {
                "token": {
                    "realm": reg.realm,
                    "service": reg.service,
                    "issuer": reg.issuer,
                    "rootcertbundle": str(cert),
                }
            }
        if proxy_of is not None:
            cfg["proxy"] = {"remoteurl": proxy_of}
            if proxy_auth is not None:
                cfg["proxy"]["username"], cfg["proxy"]["password"] = proxy_auth
        _start(reg, cfg, proxy_ca, address)
        if tls:
            assert reg.ca_cert is not None
            reg.certs_d = own / "certs.d"
            (reg.certs_d / reg.host).mkdir(parents=True)
            shutil.copy(reg.ca_cert, reg.certs_d / reg.host / "ca.crt")
            for src in reg.client_cert or ():
                shutil.copy(src, reg.certs_d / reg.host / src.name)
        yield reg
    finally:
        reg.stop()
        shutil.rmtree(reg.storage, ignore_errors=True)


def _base_config(reg: Registry) -> dict[str, Any]:
    return {
        "version": "0.1",
        "log": {"level": "info", "formatter": "text", "fields": {"service": "registry"}},
        "storage": {
            "filesystem": {"rootdirectory": str(reg.storage)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {
            "addr": "",
            "secret": secrets.token_hex(16),
            "headers": {"X-Content-Type-Options": ["nosniff"]},
        },
    }


def _start(reg: Registry, cfg: dict[str, Any], proxy_ca: Path | None, address: str) -> None:
    """Start docker-registry on a free port of `address` (a few tries: the port may be taken
    between finding it and the registry binding it) and wait until GET /v2/ answers 200 or 401."""
    scheme = "https" if "tls" in cfg["http"] else "http"
    for _attempt in range(5):
        port = free_port(address)
        reg.host = cfg["http"]["addr"] = f"{address}:{port}"
        reg.url = f"{scheme}://{reg.host}"
        # JSON is YAML: no YAML library needed, and no quoting surprises.
        reg.config.write_text(json.dumps(cfg, indent=2))
        with open(reg.log, "ab") as logf:
            reg.proc = subprocess.Popen(
                [REGISTRY_BIN, "serve", str(reg.config)],
                stdout=logf,
                stderr=subprocess.STDOUT,
                env=_registry_env(proxy_ca),
                start_new_session=True,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and reg.proc.poll() is None:
            with contextlib.suppress(OSError, http.client.HTTPException):
                # The name is not checked: a test may ask for a certificate for another one.
                conn = _connection(reg.url, reg.ca_cert, timeout=2, client=reg.client_cert,
                                   check_hostname=False)  # fmt: skip
                try:
                    conn.request("GET", "/v2/")
                    if conn.getresponse().status in (200, 401):
                        return
                finally:
                    conn.close()
            time.sleep(0.05)
        _terminate(reg.proc)
        if "address already in use" not in reg.log.read_text(errors="replace"):
            break
    raise RuntimeError(f"docker-registry did not start:\n{reg.log.read_text()[-4000:]}")


# ---------------------------------------------------------------------------------------------
# Talking to a registry directly


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="...",service="..."` -> ("bearer", {"realm": ..., "service": ...})."""
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(re.findall(r'(\w+)="([^"]*)"', rest))


def fetch_token(
    realm: str,
    service: str,
    scopes: list[str],
    creds: tuple[str, str] | None,
    ca_cert: Path | None = None,
) -> str:
    """Docker's token flow, client side: GET realm?service=&scope=... (Basic auth with creds)."""
    query = urllib.parse.urlencode([("service", service), *(("scope", s) for s in scopes)])
    u = urllib.parse.urlsplit(realm)
    conn = _connection(realm, ca_cert)
    headers = {}
    if creds:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(creds).encode()).decode()
    try:
        conn.request("GET", f"{u.path}?{u.query + '&' if u.query else ''}{query}", headers=headers)
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    if resp.status != 200:
        raise PermissionError(f"token server answered {resp.status}: {body!r}")
    data = json.loads(body)
    return str(data.get("token") or data["access_token"])


def http_get(
    reg: Registry,
    path: str,
    *,
    token: str | None = None,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    creds: tuple[str, str] | None = None,
    anon: bool = False,
    follow_challenge: bool = True,
) -> tuple[int, email.message.Message, bytes]:
    """One request to the registry: (status, headers, body). Manifest paths send an Accept of
    every manifest type. Authenticates as a client would, with `creds` or else the registry's own
    user, or anonymously with `anon`: Basic, or a token fetched for the scope a Bearer challenge
    names (an anonymous token too). With `token` it sends exactly that bearer token; without
    `follow_challenge` it returns the first answer (to see the challenge itself)."""
    who = None if anon else (creds or reg.creds)
    hdrs = {"Accept": MANIFEST_ACCEPT} if "/manifests/" in path else {}
    hdrs.update(headers or {})
    if token is not None:
        hdrs["Authorization"] = f"Bearer {token}"
    elif reg.auth == "basic" and who:
        hdrs["Authorization"] = "Basic " + base64.b64encode(":".join(who).encode()).decode()

    def once(h: dict[str, str]) -> tuple[int, email.message.Message, bytes]:
        conn = _connection(reg.url, reg.ca_cert, client=reg.client_cert)
        try:
            conn.request(method, path, headers=h)
            resp = conn.getresponse()
            return resp.status, resp.headers, resp.read()
        finally:
            conn.close()

    status, resp_headers, body = once(hdrs)
    challenge = resp_headers.get("WWW-Authenticate", "")
    if (
        status == 401
        and token is None
        and follow_challenge
        and challenge.lower().startswith("bearer ")
    ):
        _, params = parse_challenge(challenge)
        scopes = params["scope"].split() if params.get("scope") else []
        try:
            got = fetch_token(params["realm"], params.get("service", ""), scopes, who, reg.ca_cert)
        except PermissionError:
            return status, resp_headers, body
        status, resp_headers, body = once({**hdrs, "Authorization": f"Bearer {got}"})
    return status, resp_headers, body


def split_ref(ref: str) -> tuple[str, str]:
    """Split name:tag, name@sha256:... or a bare name into (name, tag or digest)."""
    if "@" in ref:
        name, _, digest = ref.partition("@")
        return name, digest
    name, sep, tag = ref.rpartition(":")
    if sep and "/" not in tag:
        return name, tag
    return ref, "latest"


def manifest(reg: Registry, ref: str, **kw: Any) -> tuple[str, str, dict[str, Any]]:
    """GET a manifest: (media type, digest the registry reports, parsed body); asserts 200."""
    name, reference = split_ref(ref)
    status, headers, body = http_get(reg, f"/v2/{name}/manifests/{reference}", **kw)
    assert status == 200, (status, body)
    return (
        headers.get("Content-Type", ""),
        headers.get("Docker-Content-Digest", ""),
        json.loads(body),
    )


def blob(reg: Registry, name: str, digest: str, **kw: Any) -> bytes:
    """GET a blob (following the registry's redirect, if any); asserts 200."""
    status, _, body = http_get(reg, f"/v2/{name}/blobs/{digest}", **kw)
    assert status == 200, (status, body[:200])
    return body


# ---------------------------------------------------------------------------------------------
# Images without a daemon: OCI layouts


@dataclass(frozen=True)
class File:
    """A regular file in a layer, with an explicit mode (plain bytes get 0644, or 0755 for an
    ELF binary or a #! script)."""

    data: bytes
    mode: int = 0o644


@dataclass(frozen=True)
class Symlink:
    target: str


@dataclass(frozen=True)
class Directory:
    mode: int = 0o755


Entry = bytes | File | Symlink | Directory


def layer_tar(files: dict[str, Entry]) -> bytes:
    """A reproducible tar of `files` ({path: content}): sorted, root-owned, fixed mtime, parent
    directories added. Whiteouts are plain entries: {"etc/.wh.passwd": b""}."""
    entries: dict[str, Entry] = {}
    for raw, entry in files.items():
        path = raw.strip("/").removeprefix("./")
        parts = path.split("/")
        for i in range(1, len(parts)):
            entries.setdefault("/".join(parts[:i]), Directory())
        entries[path] = entry
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(entries):
            entry = entries[path]
            info = tarfile.TarInfo(path)
            info.mtime = _TAR_MTIME
            data = None
            if isinstance(entry, Directory):
                info.type, info.mode = tarfile.DIRTYPE, entry.mode
            elif isinstance(entry, Symlink):
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, entry.target, 0o777
            else:
                data = entry.data if isinstance(entry, File) else entry
                if isinstance(entry, File):
                    info.mode = entry.mode
                else:
                    info.mode = 0o755 if data[:4] == b"\x7fELF" or data[:2] == b"#!" else 0o644
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def compress(data: bytes, compression: str) -> bytes:
    """gzip (reproducible: no name, mtime 0), zstd (the zstd CLI) or none."""
    if compression == "gzip":
        return gzip.compress(data, mtime=0)
    if compression == "zstd":
        return _run(["zstd", "-q", "-c", "-3"], input=data).stdout
    if compression == "none":
        return data
    raise ValueError(f"compression must be gzip, zstd or none, not {compression!r}")


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _put_blob(dest: Path, data: bytes) -> dict[str, Any]:
    digest = sha256(data)
    path = dest / "blobs" / "sha256" / digest.removeprefix("sha256:")
    if not path.exists():
        path.write_bytes(data)
    return {"digest": digest, "size": len(data)}


def _json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def host_platform() -> tuple[str, str, str]:
    """(os, architecture, variant) of this machine, in OCI's words."""
    machine = platform.machine()
    arch = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(
        machine, machine
    )
    return ("linux", arch, "v8" if arch == "arm64" else "v7" if arch == "arm" else "")


def oci_layout(
    dest: Path,
    layers: list[dict[str, Entry]],
    *,
    compression: str = "gzip",
    platforms: list[tuple[str, str, str]] | None = None,
    config_extra: dict[str, Any] | None = None,
) -> str:
    """Write an OCI image layout at `dest` and return the digest of its top manifest (an image
    index when more than one platform is given, listing one manifest per platform).

    layers: one {path: content} per layer, bottom first. platforms: (os, architecture, variant),
    default [("linux", "amd64", "")]; the same layers go in every platform's image. config_extra:
    top-level keys merged into each image config; a "config" key's dict is merged into the config's
    own "config" section (Env, Cmd, Labels...)."""
    platforms = platforms or [("linux", "amd64", "")]
    if compression not in OCI_LAYER:
        raise ValueError(f"compression must be gzip, zstd or none, not {compression!r}")
    (dest / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    diff_ids, layer_descs = [], []
    for files in layers:
        tar = layer_tar(files)
        diff_ids.append(sha256(tar))
        blob_desc = _put_blob(dest, compress(tar, compression))
        layer_descs.append({"mediaType": OCI_LAYER[compression], **blob_desc})
    manifests = []
    for os_name, arch, variant in platforms:
        cfg: dict[str, Any] = {"created": CREATED, "architecture": arch, "os": os_name}
        if variant:
            cfg["variant"] = variant
        cfg["config"] = {"Env": [DEFAULT_ENV], "Cmd": ["sh"]}
        cfg["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
        cfg["history"] = [
            {"created": CREATED, "created_by": f"dockyard test layer {i}"}
            for i in range(len(layers))
        ]
        for k, v in (config_extra or {}).items():
            if k == "config" and isinstance(v, dict):
                cfg["config"].update(v)
            else:
                cfg[k] = v
        man = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, **_put_blob(dest, _json(cfg))},
            "layers": layer_descs,
        }
        plat = {"architecture": arch, "os": os_name, **({"variant": variant} if variant else {})}
        manifests.append(
            {"mediaType": OCI_MANIFEST, **_put_blob(dest, _json(man)), "platform": plat}
        )
    if len(manifests) == 1:
        top = {k: v for k, v in manifests[0].items() if k != "platform"}
    else:
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
        top = {"mediaType": OCI_INDEX, **_put_blob(dest, _json(index))}
    (dest / "oci-layout").write_text(json.dumps({"imageLayoutVersion": OCI_LAYOUT_VERSION}))
    (dest / "index.json").write_text(
        json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [top]})
    )
    return str(top["digest"])


def busybox_files(applets: tuple[str, ...] = BUSYBOX_APPLETS) -> dict[str, Entry]:
    """A layer that runs: the host's static busybox at /bin/busybox, applet symlinks, the usual
    empty directories."""
    files: dict[str, Entry] = {"bin/busybox": File(Path(BUSYBOX_BIN).read_bytes(), 0o755)}
    for applet in applets:
        files[f"bin/{applet}"] = Symlink("busybox")
    for d in ("etc", "tmp", "proc", "sys", "dev", "root"):
        files[d] = Directory(0o1777 if d == "tmp" else 0o755)
    return files


def busybox_layout(
    dest: Path,
    *,
    extra: dict[str, Entry] | None = None,
    compression: str = "gzip",
    config_extra: dict[str, Any] | None = None,
) -> str:
    """An OCI layout of a runnable image for this machine's platform: busybox in one layer,
    `extra` files (if any) in a second; returns its manifest digest."""
    layers = [busybox_files()] + ([extra] if extra else [])
    return oci_layout(
        dest,
        layers,
        compression=compression,
        platforms=[host_platform()],
        config_extra=config_extra,
    )


def layout_top(layout: Path) -> dict[str, Any]:
    """The descriptor in a layout's index.json (its one image or index)."""
    top: dict[str, Any] = json.loads((layout / "index.json").read_text())["manifests"][0]
    return top


def _layout_compressions(layout: Path) -> set[str]:
    def blob_json(digest: str) -> dict[str, Any]:
        path = layout / "blobs" / "sha256" / digest.removeprefix("sha256:")
        return json.loads(path.read_text())  # type: ignore[no-any-return]

    top = layout_top(layout)
    mans = [top]
    if top.get("mediaType") in INDEX_TYPES:
        mans = blob_json(top["digest"])["manifests"]
    return {layer["mediaType"] for m in mans for layer in blob_json(m["digest"])["layers"]}


# ---------------------------------------------------------------------------------------------
# skopeo: an independent client


def _skopeo_env(reg: Registry) -> dict[str, str]:
    """skopeo isolated from the host's configuration: its own (empty) registries.conf and auth
    file; the policy and registries.d come as flags."""
    d = reg.base / "skopeo"
    d.mkdir(exist_ok=True)
    (d / "registries.conf").write_text("")
    (d / "registries.d").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("REGISTRY_AUTH_FILE", "DOCKER_CONFIG")}
    env["CONTAINERS_REGISTRIES_CONF"] = str(d / "registries.conf")
    env["REGISTRY_AUTH_FILE"] = str(d / "auth.json")
    env["DOCKER_CONFIG"] = str(d / "docker")
    # As root, skopeo keeps a blob info cache in /var/lib/containers/cache; presenting itself as
    # rootless (containers/image reads this variable) puts it under XDG_DATA_HOME, our directory.
    env["_CONTAINERS_ROOTLESS_UID"] = "1"
    env["XDG_DATA_HOME"] = str(d / "data")
    env["XDG_CONFIG_HOME"] = str(d / "config")
    env["XDG_RUNTIME_DIR"] = str(d / "run")
    return env


def _skopeo(reg: Registry, *args: str) -> subprocess.CompletedProcess[bytes]:
    d = reg.base / "skopeo"
    env = _skopeo_env(reg)
    tmp = d / "tmp"
    tmp.mkdir(exist_ok=True)
    argv = ["skopeo", "--insecure-policy", "--registries.d", str(d / "registries.d"),
            "--tmpdir", str(tmp), *args]  # fmt: skip
    return subprocess.run(argv, capture_output=True, env=env, timeout=120)


def _side_args(side: str, reg: Registry, creds: tuple[str, str] | None, anon: bool) -> list[str]:
    """skopeo's flags for TLS trust and credentials (never the host's auth files); side is
    "src-", "dest-" or "" (inspect)."""
    out = []
    if reg.cert_dir is not None:
        out += [f"--{side}tls-verify=true", f"--{side}cert-dir", str(reg.cert_dir)]
    else:
        out.append(f"--{side}tls-verify=false")
    who = None if anon else (creds or reg.creds)
    out += [f"--{side}creds", ":".join(who)] if who else [f"--{side}no-creds"]
    return out


def skopeo_push(
    layout: Path,
    ref: str,
    reg: Registry,
    *,
    fmt: str = "oci",
    creds: tuple[str, str] | None = None,
    anon: bool = False,
) -> str:
    """Publish an OCI layout as reg.host/`ref` with `skopeo copy` and return the digest the
    registry reports for it (HEAD Docker-Content-Digest).

    fmt "oci" pushes the layout as it is (--preserve-digests: zstd layers stay zstd, the digest is
    the layout's); "v2s2" converts to Docker's schema 2 (gzip or uncompressed layers, not zstd;
    an index becomes a manifest list). An index is pushed whole (--all). Credentials: `creds`, else the registry's
    own user; `anon` pushes without any. Raises RuntimeError with skopeo's message on failure."""
    if fmt not in ("oci", "v2s2"):
        raise ValueError(f"fmt must be oci or v2s2, not {fmt!r}")
    if fmt == "v2s2" and OCI_LAYER["zstd"] in _layout_compressions(layout):
        raise ValueError("Docker schema 2 has no zstd layers: push a zstd layout as oci")
    args = ["copy", "--quiet", "--retry-times", "0", "--format", fmt]
    if layout_top(layout).get("mediaType") in INDEX_TYPES:
        args.append("--all")
    if fmt == "oci":
        args.append("--preserve-digests")
    args += _side_args("dest-", reg, creds, anon)
    p = _skopeo(reg, *args, f"oci:{layout}", f"docker://{reg.host}/{ref}")
    if p.returncode != 0:
        raise RuntimeError(f"skopeo copy to {reg.host}/{ref} failed: {p.stderr.decode()}")
    name, reference = split_ref(ref)
    status, headers, body = http_get(
        reg, f"/v2/{name}/manifests/{reference}", method="HEAD", creds=creds, anon=False
    )
    if status != 200:
        raise RuntimeError(f"HEAD of the pushed manifest answered {status}")
    return headers.get("Docker-Content-Digest", "")


def skopeo_inspect(
    ref: str, reg: Registry, *, creds: tuple[str, str] | None = None, anon: bool = False
) -> bytes:
    """`skopeo inspect --raw`: the manifest (or index) bytes as the registry serves them."""
    p = _skopeo(
        reg,
        "inspect",
        "--raw",
        "--retry-times",
        "0",
        *_side_args("", reg, creds, anon),
        f"docker://{reg.host}/{ref}",
    )
    if p.returncode != 0:
        raise RuntimeError(f"skopeo inspect {reg.host}/{ref} failed: {p.stderr.decode()}")
    return p.stdout


def skopeo_pull(
    ref: str,
    reg: Registry,
    dest: Path,
    *,
    creds: tuple[str, str] | None = None,
    anon: bool = False,
    all_platforms: bool = False,
) -> Path:
    """Copy reg.host/`ref` into an OCI layout at `dest` with `skopeo copy` (layers as served,
    digests kept); returns `dest`."""
    args = ["copy", "--quiet", "--retry-times", "0", "--preserve-digests",
            "--dest-oci-accept-uncompressed-layers"]  # fmt: skip
    if all_platforms:
        args.append("--all")
    args += _side_args("src-", reg, creds, anon)
    p = _skopeo(reg, *args, f"docker://{reg.host}/{ref}", f"oci:{dest}")
    if p.returncode != 0:
        raise RuntimeError(f"skopeo copy from {reg.host}/{ref} failed: {p.stderr.decode()}")
    return dest
