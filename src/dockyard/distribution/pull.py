"""One image pull (E5), as a pipeline: up to `max_concurrent_downloads` layers download at once,
each into a spool, and the layers are extracted in order, each starting as soon as its parent is
registered and reading its spool while the download is still writing it. Every blob is checked
against its digest, every layer's tar against the config's diff ID, the config against the
manifest; layers already in the store are neither downloaded nor extracted. A download that
breaks off is tried again as dockerd does (distribution/retry.py), for the bytes the spool lacks:
the extractor just waits for them. Nothing is visible until the image is recorded at the end; on
failure every registered layer and spool is dropped.

Lifecycle: `prepare()` (manifest, platform, config: its errors get HTTP statuses), then
`messages()` yields dockerd's progress stream while the work runs on worker threads."""

from __future__ import annotations

import hashlib
import http.client
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from dockyard import errors
from dockyard.core.layers import Layer
from dockyard.crashpoints import crashpoint
from dockyard.distribution import inflate, manifests, progress, retry
from dockyard.distribution.client import Response, TransportError
from dockyard.distribution.manifests import Descriptor, Manifest, Platform
from dockyard.distribution.remote import Remote
from dockyard.distribution.spool import Spool
from dockyard.images import config as image_config
from dockyard.images.content import ContentStore
from dockyard.images.reference import Reference
from dockyard.state.layerblobs import LayerBlob, LayerBlobRepo
from dockyard.storage.layers import chain_id_of
from dockyard.storage.protocols import LayerStore

log = logging.getLogger(__name__)
CHUNK = 1 << 20

# commit(config bytes, top chain id holding one reference, the manifests to keep: the one the
# reference resolved to first) -> (image id, new)
Commit = Callable[[bytes, str | None, tuple[bytes, ...]], tuple[str, bool]]


class Cancelled(Exception):
    pass


@dataclass
class _Layer:
    desc: Descriptor
    diff_id: str
    chain_id: str
    id: str  # the short id progress messages use
    present: bool
    spool: Spool | None = None
    # Set once "Download complete" is said: the extractor, which reads behind the download,
    # holds its "Extracting" messages until then, so a layer's line goes through dockerd's order.
    downloaded: threading.Event = field(default_factory=threading.Event)


@dataclass
class PullJob:
    remote: Remote
    found: manifests.Manifest | manifests.Index
    platform: Platform
    layers: LayerStore
    content: ContentStore
    blobs: LayerBlobRepo
    commit: Commit
    max_downloads: int = 3
    max_retries: int = 5  # --max-download-attempts: retries after a layer's first attempt
    retry_unit: float = 1.0  # seconds one step of the retry countdown lasts (tests shorten it)
    platform_asked: bool = False  # --platform given: a single manifest must match it
    has_image: Callable[[str], bool] = lambda image_id: False
    manifest: Manifest | None = None
    stored: bool = False  # the image is here already: only its names are updated
    config_raw: bytes = b""
    image_id: str = ""
    updated: bool = False
    _relay: progress.Relay = field(default_factory=progress.Relay)
    _kept: list[tuple[LayerBlob, bool]] = field(default_factory=list)  # (row, blob file new)

    @property
    def ref(self) -> Reference:
        return self.remote.ref

    # ---- before the first byte of the answer ------------------------------------------------

    def prepare(self) -> None:
        """Pick the platform's manifest and fetch and check the config."""
        found = self.found
        if isinstance(found, manifests.Index):
            entry = manifests.choose(found, self.platform)
            found = self.remote.manifest(entry.digest)
            if isinstance(found, manifests.Index):
                raise errors.System(
                    f"no matching manifest for {self.platform} in the manifest list entries"
                )
        self.manifest = found
        if self.has_image(found.config.digest):  # the image id is its config's digest
            self.stored = True
            self.config_raw = self.content.get(found.config.digest)
            return
        raw = self.remote.blob_bytes(found.config.digest)
        if manifests.digest_of(raw) != found.config.digest:
            raise errors.System(
                f"image config verification failed for digest {found.config.digest}"
            )
        doc = image_config.parse(raw)
        diff_ids = image_config.diff_ids(doc)
        if len(diff_ids) != len(found.layers):
            raise errors.System("layers from manifest don't match image configuration")
        if isinstance(self.found, manifests.Manifest) and self.platform_asked:
            # a single manifest: dockerd checks its config only against an explicit --platform
            want = self.platform
            have = Platform(str(doc.get("os") or ""), str(doc.get("architecture") or ""),
                            str(doc.get("variant") or ""))  # fmt: skip
            if have.os and not want.matches(have):
                raise errors.System(
                    f"image with reference {self.ref.familiar()} was found but does not match the "
                    f"specified platform: wanted {want}, actual: {have}"
                )
        self.config_raw = raw

    # ---- the stream ---------------------------------------------------------------------------

    def messages(self) -> Iterator[progress.Message]:
        assert self.manifest is not None
        tag_or_digest = self.ref.digest or self.ref.tag or "latest"
        # dockerd names the repository as the registry knows it ("library/busybox").
        yield progress.status(f"Pulling from {self.ref.path}", tag_or_digest)
        plan = [] if self.stored else self._plan()  # a stored image: no layer to speak of
        for lay in plan:
            yield progress.layer("Already exists" if lay.present else "Pulling fs layer", lay.id)
        yield from self._relay.run(lambda: self._work(plan), "pull")
        yield progress.status(f"Digest: {self.found.digest}")

    def _plan(self) -> list[_Layer]:
        assert self.manifest is not None
        diff_ids = image_config.diff_ids(image_config.parse(self.config_raw))
        plan, parent, present = [], None, True
        for desc, diff_id in zip(self.manifest.layers, diff_ids, strict=True):
            chain = chain_id_of(parent, diff_id)
            present = present and self._has(chain)
            plan.append(_Layer(desc, diff_id, chain, progress.short(desc.digest), present))
            parent = chain
        return plan

    def _has(self, chain_id: str) -> bool:
        try:
            self.layers.get(chain_id)
            return True
        except errors.NotFound:
            return False

    def _emit(self, msg: progress.Message) -> None:
        self._relay.emit(msg)

    @property
    def _cancelled(self) -> bool:
        return self._relay.cancelled.is_set()

    def _work(self, plan: list[_Layer]) -> None:
        todo = [lay for lay in plan if not lay.present]
        base = next((lay.chain_id for lay in reversed(plan) if lay.present), None)
        top: str | None = None
        pool = ThreadPoolExecutor(
            max_workers=max(1, self.max_downloads), thread_name_prefix="pull-dl"
        )
        try:
            for lay in todo:
                lay.spool = Spool(self.content.tmp)
                pool.submit(self._download, lay)
            if len(todo) > self.max_downloads:
                for lay in todo[self.max_downloads :]:
                    self._emit(progress.layer("Waiting", lay.id))
            if base is not None:
                self.layers.retain(base)
            top = base
            for lay in todo:
                layer = self._extract(lay, top)
                top = layer.chain_id
                crashpoint("pull.after-layer")
            # The manifests stay (push reuses them, so a pulled image keeps its digest).
            assert self.manifest is not None
            kept = tuple(dict.fromkeys((self.found.raw, self.manifest.raw)))
            crashpoint("pull.before-image")
            self.image_id, self.updated = self.commit(self.config_raw, top, kept)
            top = None  # handed over
        except BaseException:
            self._relay.cancelled.set()  # the downloads stop before the pool is waited for
            self._forget_kept()
            raise
        finally:
            pool.shutdown(wait=True)
            if top is not None:
                self.layers.release(top)
            for lay in todo:
                if lay.spool is not None:
                    lay.spool.discard()

    # ---- one layer ---------------------------------------------------------------------------

    def _download(self, lay: _Layer) -> None:
        """The blob into the spool, checked; a failed attempt is retried as dockerd does
        (distribution/retry.py), from where the spool ends, while the extractor waits."""
        spool = lay.spool
        assert spool is not None
        h = hashlib.sha256()  # over the spool: every attempt only appends to it
        started = time.monotonic()
        try:
            failures = 0
            while True:
                try:
                    self._attempt(lay, spool, h, started)
                    break
                except Exception as e:  # its half-read connection was closed, not pooled
                    failures += 1
                    if (
                        isinstance(e, Cancelled)
                        or not retry.retryable(e)
                        or failures > self.max_retries
                    ):
                        raise
                    log.info("download of %s failed, retrying (%d/%d): %s", lay.desc.digest,
                             failures, self.max_retries, e)  # fmt: skip
                    self._count_down(lay, failures)
            self._emit(progress.layer("Verifying Checksum", lay.id))
            wrong_size = lay.desc.size and spool.size != lay.desc.size
            if "sha256:" + h.hexdigest() != lay.desc.digest or wrong_size:
                raise errors.System(
                    f"filesystem layer verification failed for digest {lay.desc.digest}"
                )
            spool.finish()
            self._emit(progress.layer("Download complete", lay.id))
            lay.downloaded.set()
        except (errors.DockyardError, Cancelled) as e:
            spool.fail(e)
        except BaseException as e:  # noqa: BLE001 (the extractor raises it)
            spool.fail(errors.System(errors.message_of(e)))

    def _attempt(self, lay: _Layer, spool: Spool, h: Any, started: float) -> None:
        """One request for what the spool lacks, appended to it."""
        if self._cancelled:
            raise Cancelled()
        offset = spool.size
        try:
            resp = self.remote.blob(lay.desc.digest, offset)
        except (TransportError, errors.DockyardError):
            if offset:
                raise
            # dockerd's blob reader asks twice before an attempt fails (its size probe, then
            # its read): a lone 5xx or refused connection costs no countdown.
            resp = self.remote.blob(lay.desc.digest, offset)
        try:
            length = int(resp.header("Content-Length") or -1)  # what this answer should carry
            total = lay.desc.size or max(length, 0) + (offset if resp.status == 206 else 0)
            if resp.status == 200 and offset:
                # The Range was ignored: the whole blob again. What the spool holds is skipped
                # (the extractor has read it), the rest appended.
                self._skip(resp, offset)
                length -= offset
            throttle = progress.Throttle()
            while True:
                try:
                    chunk = resp.raw.read(CHUNK)
                except (OSError, http.client.HTTPException) as e:
                    raise resp.read_error(e) from e
                if not chunk:
                    break
                if self._cancelled:
                    raise Cancelled()
                h.update(chunk)
                spool.write(chunk)
                if throttle.due():
                    self._emit(progress.transfer("Downloading", lay.id, spool.size, total, started))
            if spool.size - offset < length:  # http.client ends a short body quietly
                raise resp.read_error(http.client.IncompleteRead(b""))
        finally:
            resp.close()

    def _skip(self, resp: Response, n: int) -> None:
        while n > 0:
            try:
                data = resp.raw.read(min(n, CHUNK))
            except (OSError, http.client.HTTPException) as e:
                raise resp.read_error(e) from e
            if not data:
                raise resp.read_error(http.client.IncompleteRead(b"", n))
            n -= len(data)

    def _count_down(self, lay: _Layer, failures: int) -> None:
        """dockerd's wait before the next attempt, said on the layer's line each second."""
        for text in retry.countdown(failures):
            self._emit(progress.layer(text, lay.id))
            if self._relay.cancelled.wait(self.retry_unit):
                raise Cancelled()

    def _extract(self, lay: _Layer, parent: str | None) -> Layer:
        spool = lay.spool
        assert spool is not None
        reader = spool.reader()
        total = lay.desc.size
        started, throttle = time.monotonic(), progress.Throttle()
        emit = self._emit

        class Counting:
            def readable(self) -> bool:
                return True

            def read(self, n: int = -1) -> bytes:
                data = reader.read(n)
                if data and lay.downloaded.is_set() and throttle.due():
                    emit(progress.transfer("Extracting", lay.id, reader.offset, total, started))
                return data

        inflater = None
        try:
            tar, inflater = inflate.opened(Counting())
            layer = self.layers.register(tar, parent, inflater.digest if inflater else None)
        except (errors.DockyardError, Cancelled):
            raise
        except Exception as e:
            raise errors.System(f"failed to register layer: {e}") from e
        finally:
            if inflater is not None:
                inflater.close()
            reader.close()
        if layer.diff_id != lay.diff_id:
            self.layers.release(layer.chain_id)
            raise errors.System(
                f"failed to register layer: layer digest mismatch: expected {lay.diff_id}, got "
                f"{layer.diff_id}"
            )
        if parent is not None:
            self.layers.release(parent)  # the new layer holds its parent now
        self._keep_blob(lay)
        emit(progress.transfer("Extracting", lay.id, total, total, None))
        emit(progress.layer("Pull complete", lay.id))
        return layer

    def _keep_blob(self, lay: _Layer) -> None:
        """The compressed blob stays in the content store; save and push use it. (A daemon
        killed later leaves it with its layer, for a retry; a failed pull takes both back.)"""
        spool = lay.spool
        assert spool is not None
        dest = self.content.path(lay.desc.digest)
        new_file = not dest.exists()
        if new_file:
            spool.path.chmod(0o644)
            spool.path.replace(dest)
        blob = LayerBlob(lay.diff_id, lay.desc.digest, lay.desc.media_type, lay.desc.size,
                         self.ref.name)  # fmt: skip
        if blob not in self.blobs.of(lay.diff_id):
            self.blobs.add(blob)
            self._kept.append((blob, new_file))
        elif new_file:
            self._kept.append((blob, True))

    def _forget_kept(self) -> None:
        """A failed pull's layers are released: their kept blobs and rows go too."""
        for blob, new_file in self._kept:
            still_used = self.blobs.remove(blob)
            if new_file and not still_used:
                self.content.delete(blob.digest)
