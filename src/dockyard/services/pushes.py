"""Pushing images to registries and logging in to them (E5), for the image service.

`start()` checks the name, then returns the progress stream, which says which repository, looks
the tags up (a missing one is an error in the stream after that line, as dockerd sends it),
connects and pushes as it is read: one job per tag (all of a repository's tags when none is
given); afterwards the image carries `name@<manifest digest>` in RepoDigests. `login()` checks credentials against the registry."""

from __future__ import annotations

import http.client
import logging
from collections.abc import Callable, Iterator

from dockyard import errors
from dockyard.distribution import progress
from dockyard.distribution.auth import Credentials, TokenCache
from dockyard.distribution.endpoints import RegistryOptions
from dockyard.distribution.manifests import Index, Manifest, parse
from dockyard.distribution.push import LocalLayer, PushJob
from dockyard.distribution.remote import Remote
from dockyard.images import config as image_config
from dockyard.images import reference
from dockyard.images.catalog import ImageCatalog
from dockyard.images.content import ContentStore
from dockyard.state.layerblobs import LayerBlobRepo
from dockyard.storage.protocols import LayerStore

log = logging.getLogger(__name__)


class Pushes:
    def __init__(self, catalog: ImageCatalog, layers: LayerStore,
                 recover_layer_blob: Callable[[str, str], None], blobs: LayerBlobRepo,
                 options: RegistryOptions, tokens: TokenCache) -> None:  # fmt: skip
        self.catalog = catalog
        self.layers = layers
        self.recover_layer_blob = recover_layer_blob
        self.blobs = blobs
        self.options = options
        self.tokens = tokens

    def start(
        self, name: str, tag: str | None, creds: Credentials | None = None
    ) -> Iterator[bytes]:
        ref = reference.parse(name)
        if ref.digest is not None:
            raise errors.InvalidParameter("cannot push a digest reference")
        if tag:
            ref = reference.parse_repo_tag(name, tag)
        return self._stream(ref, creds or Credentials())

    def _targets(self, ref: reference.Reference) -> list[tuple[reference.Reference, str]]:
        """The tags to push, as dockerd finds them: the repository must have some reference,
        then the tag asked for (or every tag)."""
        found = []
        for image_id, refs in sorted(self.catalog.repo.all_references().items()):
            for r in refs:
                named = reference.parse(r)
                if named.name == ref.name:
                    found.append((named, image_id))
        if not found:
            raise errors.NotFound(
                f"An image does not exist locally with the tag: {ref.familiar_name}"
            )
        if ref.tag is not None:
            tagged_id = self.catalog.repo.lookup(str(ref))
            if tagged_id is None:
                raise errors.NotFound(f"tag does not exist: {ref.familiar()}")
            return [(ref, tagged_id)]
        tagged = [(named, i) for named, i in found if named.tag is not None]
        if not tagged:
            raise errors.NotFound(f"no tags to push for {ref.familiar_name}")
        return sorted(tagged, key=lambda t: t[0].tag or "")

    def _stream(self, ref: reference.Reference, creds: Credentials) -> Iterator[bytes]:
        yield progress.encode(progress.status(f"The push refers to repository [{ref.name}]"))
        remote: Remote | None = None
        try:
            targets = self._targets(ref)
            remote, _ = Remote.connect(targets[0][0], self.options, creds, self.tokens, push=True)
            for target, image_id in targets:
                job = self._job(remote, target, image_id)
                for msg in job.messages():
                    yield progress.encode(msg)
                self.catalog.add_repo_digest(image_id, target, job.digest)
            # dockerd: one `push` per request, Actor.ID the reference as asked for
            self.catalog.publish("push", targets[-1][1], ref.familiar_name, actor=ref.familiar())
        except errors.DockyardError as e:
            yield progress.encode(progress.error(e.message))
        except Exception as e:  # noqa: BLE001 (the stream is started: say it there)
            log.exception("push of %s failed", ref)
            yield progress.encode(progress.error(errors.message_of(e)))
        finally:
            if remote is not None:
                remote.session.close()

    def _job(self, remote: Remote, target: reference.Reference, image_id: str) -> PushJob:
        rec = self.catalog.get(image_id)
        raw = self.catalog.content.get(rec.config_digest)
        diff_ids = image_config.diff_ids(image_config.parse(raw))
        chain = self.layers.chain(rec.top_chain_id) if rec.top_chain_id else []
        layers = [LocalLayer(d, _tar(self.catalog.content, self.recover_layer_blob, layer.chain_id, d))
                  for d, layer in zip(diff_ids, chain, strict=True)]  # fmt: skip
        return PushJob(
            remote=Remote(target, remote.session),
            ref=target,
            config_raw=raw,
            layers=layers,
            content=self.catalog.content,
            blobs=self.blobs,
            pulled_manifest=self._pulled_manifest(image_id, rec.config_digest),
            max_uploads=self.options.max_concurrent_uploads,
        )

    def _pulled_manifest(self, image_id: str, config_digest: str) -> bytes | None:
        """The single-platform manifest this image was pulled as, if it is kept."""
        content = self.catalog.content
        for r in self.catalog.repo.references(image_id):
            digest = r.rpartition("@")[2] if "@" in r else ""
            if not digest or not content.exists(digest):
                continue
            found = parse(content.get(digest), "", digest)
            candidates = [found] if isinstance(found, Manifest) else []
            if isinstance(found, Index):
                for entry in found.manifests:
                    if content.exists(entry.digest):
                        inner = parse(content.get(entry.digest), "", entry.digest)
                        if isinstance(inner, Manifest):
                            candidates.append(inner)
            for m in candidates:
                if m.config.digest == config_digest:
                    return m.raw
        return None

    def login(self, server: str, creds: Credentials) -> str:
        """POST /auth: check the credentials where they are for; "Login Succeeded"."""
        domain = _domain(server)
        probe = reference.Reference(
            domain, "library/dockyard-login" if domain == "docker.io" else "x", "latest", None
        )
        remote, _ = Remote.connect(probe, self.options, creds, self.tokens, push=True)
        try:
            resp = remote.session.request("GET", "/v2/", actions="pull")
            resp.read()
            if resp.status >= 400:  # dockerd 20.10's words, and its status (500)
                reason = http.client.responses.get(resp.status, "")
                raise errors.System(
                    f"login attempt to {remote.endpoint.base}/v2/ failed with status: "
                    f"{resp.status} {reason}"
                )
        finally:
            remote.session.close()
        return "Login Succeeded"


def _tar(content: ContentStore, recover: Callable[[str, str], None], chain_id: str,
         diff_id: str) -> Callable[[], Iterator[bytes]]:  # fmt: skip
    """The layer's tar, exactly as its diff id says (kept, or recovered from its blob)."""

    def chunks() -> Iterator[bytes]:
        if not content.exists(diff_id):
            recover(chain_id, diff_id)
        yield from content.read_chunks(diff_id)

    return chunks


def _domain(server: str) -> str:
    host = server.split("://", 1)[-1].split("/", 1)[0]
    if host in ("", "docker.io", "index.docker.io", "registry-1.docker.io"):
        return "docker.io"
    return host
