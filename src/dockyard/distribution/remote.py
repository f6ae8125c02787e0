"""A repository on a registry, reached through the first endpoint that answers (mirrors, then
the registry; HTTPS, then HTTP for an insecure one), and the registry's failures in dockerd's
words and statuses: `manifest for X not found: manifest unknown: ...` (404), `pull access denied
for X, repository does not exist or may require 'docker login': denied: ...` (404), an
unauthorized (401), anything else (500)."""

from __future__ import annotations

import http.client
import logging
from dataclasses import dataclass

from dockyard import errors
from dockyard.distribution import manifests, retry
from dockyard.distribution.auth import Credentials, TokenCache
from dockyard.distribution.client import (
    RegistryError,
    Response,
    Session,
    TransportError,
    registry_error,
)
from dockyard.distribution.endpoints import Endpoint, RegistryOptions, endpoints
from dockyard.images.reference import Reference

log = logging.getLogger(__name__)
_LAST_GOOD: dict[str, str] = {}  # registry domain -> the endpoint base that answered last


def translate(err: RegistryError, ref: Reference) -> errors.DockyardError:
    """translatePullError: what a registry said, as the daemon says it to its client."""
    text = str(err)
    if err.code == "DENIED":
        return errors.NotFound(
            f"pull access denied for {ref.familiar_name}, repository does not exist or may "
            f"require 'docker login': {text}"
        )
    if err.code == "MANIFEST_UNKNOWN" or (err.status == 404 and not err.code):
        return errors.NotFound(
            f"manifest for {ref.familiar()} not found: {text or 'manifest unknown'}"
        )
    if err.code == "NAME_UNKNOWN":
        return errors.NotFound(f"repository {ref.familiar_name} not found: {text}")
    if err.code == "UNAUTHORIZED" or err.status == 401:
        return errors.Unauthorized(text or "unauthorized: authentication required")
    return errors.System(text)


def _unexpected(status: int) -> str:
    """An error status without an error body: Go's client names it so for all but a 4xx."""
    if 400 <= status < 500:
        return f"unexpected status {status}"
    return f"received unexpected HTTP status: {status} {http.client.responses.get(status, '')}".rstrip()


@dataclass
class Remote:
    """One repository; `session` is bound once an endpoint has answered."""

    ref: Reference
    session: Session

    @classmethod
    def connect(cls, ref: Reference, opts: RegistryOptions, creds: Credentials,
                tokens: TokenCache, push: bool = False) -> tuple[Remote, manifests.Manifest | manifests.Index | None]:  # fmt: skip
        """Find an endpoint that answers for `ref`; when pulling, fetch its manifest there too
        (a mirror that lacks it is skipped, as dockerd falls back to the next endpoint)."""
        last: BaseException | None = None
        # The endpoint that answered last time first (HTTP for a plain local registry, say),
        # after the mirrors, which keep their order.
        good = _LAST_GOOD.get(ref.domain)
        found = sorted(
            endpoints(ref.domain, opts, push), key=lambda e: (not e.mirror, e.base != good)
        )
        for ep in found:
            remote = cls(ref, Session(ep, ref.path, creds, tokens))
            try:
                remote.ping()  # as dockerd: /v2/ first (its failure names that URL)
                answer = None if push else remote.manifest(ref.digest or ref.tag or "latest")
                if not ep.mirror:
                    _LAST_GOOD[ref.domain] = ep.base
                return remote, answer
            except TransportError as e:
                log.info("registry endpoint %s: %s", ep.base, e)
                last = e
            except errors.DockyardError as e:
                if not ep.mirror:
                    raise
                log.info("mirror %s: %s", ep.base, e.message)
                last = e
            remote.session.close()
        if isinstance(last, errors.DockyardError):
            raise last
        raise errors.System(str(last) if last else f"no endpoint for {ref.domain}")

    @property
    def endpoint(self) -> Endpoint:
        return self.session.endpoint

    def ping(self) -> None:
        """GET /v2/: the endpoint answers (a 401 tells how to authenticate, which is kept)."""
        resp = self.session.request("GET", "/v2/", actions="pull", authenticate=False)
        resp.read()

    def check(self, resp: Response, ok: tuple[int, ...] = (200,)) -> None:
        """Raise the registry's error (in dockerd's words) unless the status is one of `ok`."""
        if resp.status in ok:
            return
        body = resp.read()
        err = registry_error(resp.status, body, _unexpected(resp.status),
                             resp.header("WWW-Authenticate"))  # fmt: skip
        raise translate(err, self.ref) from err  # the cause tells a retry what was said

    def manifest(self, tag_or_digest: str) -> manifests.Manifest | manifests.Index:
        """A tag is resolved as dockerd's client does: a HEAD for its digest, then a GET by
        digest (by tag when the HEAD failed: a HEAD has no error body to tell why)."""
        accept = {"Accept": ", ".join(manifests.ACCEPT)}
        if not tag_or_digest.startswith("sha256:"):
            resp = self.session.request("HEAD", f"manifests/{tag_or_digest}", headers=accept)
            resp.read()
            found = resp.header("Docker-Content-Digest")
            if 200 <= resp.status < 400 and found.startswith("sha256:"):
                tag_or_digest = found
        resp = self.session.request("GET", f"manifests/{tag_or_digest}", headers=accept)
        self.check(resp)
        raw = resp.read()
        digest = manifests.digest_of(raw)
        if tag_or_digest.startswith("sha256:") and digest != tag_or_digest:
            raise errors.System(f"manifest verification failed for digest {tag_or_digest}")
        return manifests.parse(raw, resp.header("Content-Type"), digest)

    def blob(self, digest: str, offset: int = 0) -> Response:
        """A blob's body as a stream (the caller reads and closes it); from byte `offset` on
        when the registry honours the Range (206), else the whole blob (200)."""
        headers = {"Range": retry.byte_range(offset)} if offset else {}
        resp = self.session.request("GET", f"blobs/{digest}", headers=headers)
        if resp.status == 404:  # whatever the body says, as Go's blob reader
            resp.read()
            raise errors.NotFound("unknown blob") from RegistryError(404, "BLOB_UNKNOWN", "")
        self.check(resp, (200, 206) if offset else (200,))
        if resp.status == 206:
            try:
                retry.range_start(resp.header("Content-Range"), offset)
            except TransportError:
                resp.close()
                raise
        return resp

    def blob_bytes(self, digest: str) -> bytes:
        resp = self.blob(digest)
        return resp.read()
