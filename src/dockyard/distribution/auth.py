"""Registry authentication (E5): the credentials a client sends (`X-Registry-Auth`, Docker's
base64url JSON), the `WWW-Authenticate` challenges a registry answers with, and the token flow:
Basic auth straight to the registry, or a Bearer token fetched from the challenge's realm for a
service and scope (anonymously when no credentials are given), reused until it expires."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field

from dockyard import errors


@dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = ""
    identity_token: str = ""  # an OAuth refresh token from `docker login` with a token server
    registry_token: str = ""  # a bearer token to send as is

    @property
    def empty(self) -> bool:
        return not (self.username or self.identity_token or self.registry_token)

    def identity(self) -> str:
        """Who these credentials are, for keying tokens (a hash, never the secret itself)."""
        if self.empty:
            return ""
        raw = f"{self.username}\0{self.password}\0{self.identity_token}".encode()
        return hashlib.sha256(raw).hexdigest()

    def basic(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    @classmethod
    def from_header(cls, header: str | None) -> Credentials:
        """The X-Registry-Auth header: base64url of {"username", "password", "auth",
        "serveraddress", "identitytoken", "registrytoken"}; empty or "{}" means anonymous."""
        if not header:
            return cls()
        try:
            padded = header + "=" * (-len(header) % 4)
            doc = json.loads(base64.urlsafe_b64decode(padded))
        except ValueError:
            raise errors.InvalidParameter("invalid X-Registry-Auth header") from None
        if not isinstance(doc, dict):
            return cls()
        return cls.from_json(doc)

    @classmethod
    def from_json(cls, doc: dict[str, object]) -> Credentials:
        user, password = str(doc.get("username") or ""), str(doc.get("password") or "")
        packed = str(doc.get("auth") or "")
        if packed and not user:
            user, _, password = base64.b64decode(packed).decode().partition(":")
        return cls(user, password, str(doc.get("identitytoken") or ""),
                   str(doc.get("registrytoken") or ""))  # fmt: skip


_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "basic" or "bearer"
    params: dict[str, str]

    @classmethod
    def parse(cls, header: str) -> Challenge | None:
        scheme, _, rest = header.strip().partition(" ")
        if not scheme:
            return None
        params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
                  for m in _PARAM.finditer(rest)}  # fmt: skip
        return cls(scheme.lower(), params)


@dataclass
class Token:
    value: str
    expires: float


@dataclass
class TokenCache:
    """Bearer tokens by (realm, service, scope), shared by every request of a daemon."""

    tokens: dict[tuple[str, str, str], Token] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: tuple[str, str, str]) -> str | None:
        with self.lock:
            tok = self.tokens.get(key)
            if tok is None or tok.expires <= time.time():
                return None
            return tok.value

    def put(self, key: tuple[str, str, str], value: str, expires_in: int) -> None:
        # Refresh a little early; registries default to 60 s when they say nothing.
        lifetime = max(expires_in or 60, 60) - 10
        with self.lock:
            self.tokens[key] = Token(value, time.time() + lifetime)


def scope(repo: str, actions: str) -> str:
    return f"repository:{repo}:{actions}"
