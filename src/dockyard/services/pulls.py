"""Pulling images from registries (E5) for the image service: `start()` resolves the name and the
manifest (errors here get HTTP statuses) and returns the progress stream, which does the work as
it is read; `pull()` runs one to the end for callers without a stream (build's FROM).

The image is recorded by `_commit` at the end, under the service's lock: the manifests, the config
blob, the record holding the top layer's reference, the tag, and `name@<manifest digest>` for
RepoDigests."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable, Iterator
from functools import partial

from dockyard import errors
from dockyard.distribution import progress
from dockyard.distribution.auth import Credentials, TokenCache
from dockyard.distribution.endpoints import RegistryOptions
from dockyard.distribution.manifests import Platform, digest_of
from dockyard.distribution.pull import PullJob
from dockyard.distribution.remote import Remote
from dockyard.images import reference
from dockyard.images.catalog import ImageCatalog
from dockyard.images.writer import ImageWriter
from dockyard.state.layerblobs import LayerBlobRepo
from dockyard.storage.protocols import LayerStore

log = logging.getLogger(__name__)


def pull_reference(name: str, tag: str | None) -> reference.Reference:
    """fromImage + tag as dockerd reads them: the tag may be a digest; no tag means all tags."""
    ref = reference.parse(name)
    if tag:
        if ref.tag is not None or ref.digest is not None:
            raise errors.InvalidParameter("invalid reference format")
        if reference.is_digest(tag):
            return reference.Reference(ref.domain, ref.path, None, tag)
        return reference.parse_repo_tag(name, tag)
    return ref


class Pulls:
    def __init__(self, catalog: ImageCatalog, layers: LayerStore, writer: ImageWriter,
                 blobs: LayerBlobRepo, options: RegistryOptions, tokens: TokenCache) -> None:  # fmt: skip
        self.catalog = catalog
        self.layers = layers
        self.writer = writer
        self.blobs = blobs
        self.options = options
        self.tokens = tokens

    def start(self, name: str, tag: str | None, platform: str = "",
              creds: Credentials | None = None) -> Iterator[bytes]:  # fmt: skip
        """Everything up to the first message of the stream; then the stream."""
        ref = pull_reference(name, tag)
        wanted = Platform.parse(platform) if platform else Platform.host()
        creds = creds or Credentials()
        if ref.tag is None and ref.digest is None:
            return self._all_tags(ref, wanted, creds)
        return self._stream(self._job(ref, wanted, creds, bool(platform)), [], ref)

    def pull(self, name: str, tag: str | None, platform: str = "") -> None:
        """A whole pull without a client watching (a name without a tag means `latest`, not
        every tag); its first error is raised."""
        named = reference.parse(name)
        if not tag and named.tag is None and named.digest is None:
            tag = reference.DEFAULT_TAG
        for line in self.start(name, tag, platform):
            msg = json.loads(line)
            if "error" in msg:
                raise errors.System(msg["error"])

    def _job(self, ref: reference.Reference, wanted: Platform, creds: Credentials,
             asked: bool = False) -> PullJob:  # fmt: skip
        remote, found = Remote.connect(ref, self.options, creds, self.tokens)
        assert found is not None
        job = PullJob(
            remote=remote,
            found=found,
            platform=wanted,
            layers=self.layers,
            content=self.catalog.content,
            blobs=self.blobs,
            commit=lambda raw, top, kept: self._commit(ref, raw, top, kept),
            max_downloads=self.options.max_concurrent_downloads,
            max_retries=self.options.max_download_attempts,
            retry_unit=self.options.retry_unit,
            platform_asked=asked,
            has_image=lambda image_id: self.catalog.repo.get(image_id) is not None,
        )
        try:
            job.prepare()
        except BaseException:
            remote.session.close()
            raise
        return job

    def _all_tags(self, ref: reference.Reference, wanted: Platform,
                  creds: Credentials) -> Iterator[bytes]:  # fmt: skip
        remote, _ = Remote.connect(
            ref.with_tag("latest"), self.options, creds, self.tokens, push=True
        )
        resp = remote.session.request("GET", "tags/list")
        remote.check(resp)
        tags = sorted(json.loads(resp.read()).get("tags") or [])
        remote.session.close()
        if not tags:
            raise errors.NotFound(f"repository {ref.familiar_name} not found: no tags")
        first = self._job(ref.with_tag(tags[0]), wanted, creds)
        later: list[Callable[[], PullJob]] = [
            partial(self._job, ref.with_tag(t), wanted, creds) for t in tags[1:]
        ]
        return self._stream(first, later, ref)

    def _stream(self, first: PullJob, later: list[Callable[[], PullJob]],
                shown: reference.Reference) -> Iterator[bytes]:  # fmt: skip
        """The first job is prepared (its errors were the answer's status); later ones (other
        tags of `pull -a`) are prepared as the stream reaches them."""
        updated = False
        try:
            for job in itertools.chain([first], (make() for make in later)):
                try:
                    for msg in job.messages():
                        yield progress.encode(msg)
                finally:
                    job.remote.session.close()
                updated = updated or job.updated
            word = "Downloaded newer image" if updated else "Image is up to date"
            yield progress.encode(progress.status(f"Status: {word} for {shown.familiar()}"))
        except errors.DockyardError as e:
            yield progress.encode(progress.error(e.message))
        except Exception as e:  # noqa: BLE001 (the stream is started: say it there)
            log.exception("pull of %s failed", shown)
            yield progress.encode(progress.error(errors.message_of(e)))

    def _commit(self, ref: reference.Reference, raw: bytes, top: str | None,
                kept: tuple[bytes, ...]) -> tuple[str, bool]:  # fmt: skip
        """Under the service's lock, so no rmi deletes a manifest between its write and the
        digest reference that keeps it (D-registry-5)."""
        with self.catalog.lock:
            for manifest in kept:
                self.catalog.content.put(manifest)
            image_id, updated = self.writer.store(raw, top, None)
            if ref.tag is not None:
                before = self.catalog.repo.lookup(str(ref))
                if before != image_id:
                    self.catalog.tag(image_id, ref, event=False)  # dockerd: `pull` only
                    updated = True
            if self.catalog.add_repo_digest(image_id, ref, digest_of(kept[0])):
                updated = True
        # dockerd: Actor.ID the reference as asked for, `name` its repository
        self.catalog.publish("pull", image_id, ref.familiar_name, actor=ref.familiar())
        return image_id, updated
