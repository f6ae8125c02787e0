"""One image push (E5): each layer goes up unless the registry has it. A layer pulled or pushed
before is known by its compressed blob (state/layerblobs.py): a HEAD finds it in the target
repository ("Layer already exists"), a cross-repository mount copies it from another repository
of the same registry ("Mounted from X"), or its kept blob is uploaded as is; only a layer never
seen compressed is gzipped from its tar. Then the config blob, and the manifest last: the one the
image was pulled as when every layer is the same blob (so its digest does not change), else a
Docker schema 2 manifest laid out as dockerd writes it.

Lifecycle: the service checks the local side first (its errors get HTTP statuses), then
`messages()` connects and pushes, yielding dockerd's progress stream."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from dockyard import errors
from dockyard.crashpoints import crashpoint
from dockyard.distribution import manifests, progress
from dockyard.distribution.remote import Remote
from dockyard.images import reference
from dockyard.images.content import ContentStore
from dockyard.images.reference import Reference
from dockyard.state.layerblobs import LayerBlob, LayerBlobRepo

log = logging.getLogger(__name__)
CHUNK = 1 << 20


@dataclass(frozen=True)
class LocalLayer:
    diff_id: str
    tar: Callable[[], Iterator[bytes]]  # the uncompressed tar, when it must be compressed


@dataclass
class PushJob:
    remote: Remote
    ref: Reference  # the tag being pushed
    config_raw: bytes
    layers: list[LocalLayer]
    content: ContentStore
    blobs: LayerBlobRepo
    pulled_manifest: bytes | None  # the manifest the image came as, if any
    max_uploads: int = 5
    digest: str = ""
    _relay: progress.Relay = field(default_factory=progress.Relay)

    def messages(self) -> Iterator[progress.Message]:
        for lay in reversed(self.layers):  # dockerd lists the top layer first
            yield progress.layer("Preparing", progress.short(lay.diff_id))
        for lay in reversed(self.layers[: max(0, len(self.layers) - self.max_uploads)]):
            yield progress.layer("Waiting", progress.short(lay.diff_id))
        yield from self._relay.run(self._work, "push")

    def _emit(self, msg: progress.Message) -> None:
        self._relay.emit(msg)

    def _work(self) -> None:
        with ThreadPoolExecutor(max_workers=max(1, self.max_uploads),
                                thread_name_prefix="push-up") as pool:  # fmt: skip
            futures = [pool.submit(self._layer, lay) for lay in reversed(self.layers)]
            config = pool.submit(self._config)  # beside the layers: nothing refers to it yet
            pushed = {f.result().diff_id: f.result() for f in futures}
            config.result()
        crashpoint("push.after-blob")
        descs = [pushed[lay.diff_id] for lay in self.layers]
        raw, media_type = self._manifest(descs)
        resp = self.remote.session.request("PUT", f"manifests/{self.ref.tag}", body=raw,
                                           headers={"Content-Type": media_type},
                                           actions="pull,push")  # fmt: skip
        self.remote.check(resp, (200, 201, 202))
        resp.read()
        self.digest = manifests.digest_of(raw)
        tag = self.ref.tag or "latest"
        self._emit(progress.status(f"{tag}: digest: {self.digest} size: {len(raw)}"))
        aux = {"Tag": tag, "Digest": self.digest, "Size": len(raw)}
        self._emit({"progressDetail": {}, "aux": aux})

    # ---- layers ------------------------------------------------------------------------------

    def _exists(self, digest: str) -> bool:
        resp = self.remote.session.request("HEAD", f"blobs/{digest}", actions="pull,push")
        resp.read()
        return resp.status == 200

    def _layer(self, lay: LocalLayer) -> LayerBlob:
        id = progress.short(lay.diff_id)
        target = self.ref.name
        known = self.blobs.of(lay.diff_id)
        for blob in known:
            if blob.source == target and self._exists(blob.digest):
                self._emit(progress.layer("Layer already exists", id))
                return blob
        for blob in known:
            source = _repository(blob.source)
            if source is None or source.domain != self.ref.domain or blob.source == target:
                continue
            if self._mount(blob, source.path):
                self._emit(progress.layer(f"Mounted from {source.path}", id))
                return self._remember(blob)
        for blob in known:
            if self.content.exists(blob.digest):
                if not self._exists(blob.digest):
                    with self.content.open(blob.digest) as f:
                        self._upload(f, blob.digest, blob.size, id)
                    self._emit(progress.layer("Pushed", id))
                else:
                    self._emit(progress.layer("Layer already exists", id))
                return self._remember(blob)
        blob = self._compress_and_upload(lay, id)
        return self._remember(blob)

    def _remember(self, blob: LayerBlob) -> LayerBlob:
        mine = LayerBlob(blob.diff_id, blob.digest, blob.media_type, blob.size, self.ref.name)
        self.blobs.add(mine)
        return mine

    def _mount(self, blob: LayerBlob, from_path: str) -> bool:
        resp = self.remote.session.request(
            "POST", f"blobs/uploads/?mount={blob.digest}&from={from_path}", actions="pull,push",
            extra_scopes=(f"repository:{from_path}:pull",), follow=False,
        )  # fmt: skip
        resp.read()
        if resp.status == 201:
            return True
        if resp.status == 202:  # not mountable: the registry opened an upload; cancel it
            location = resp.header("Location")
            if location:
                self.remote.session.request("DELETE", location, actions="pull,push").read()
        return False

    def _compress_and_upload(self, lay: LocalLayer, id: str) -> LayerBlob:
        """gzip the layer's tar into a spool (digest and size known), then upload it."""
        with tempfile.TemporaryFile(dir=self.content.tmp) as spool:
            h = hashlib.sha256()
            packer = zlib.compressobj(6, zlib.DEFLATED, 31)
            for chunk in lay.tar():
                if self._relay.cancelled.is_set():
                    raise errors.System("push cancelled")
                out = packer.compress(chunk)
                h.update(out)
                spool.write(out)
            out = packer.flush()
            h.update(out)
            spool.write(out)
            size = spool.tell()
            digest = "sha256:" + h.hexdigest()
            spool.seek(0)
            if self._exists(digest):
                self._emit(progress.layer("Layer already exists", id))
            else:
                self._upload(spool, digest, size, id)
                self._emit(progress.layer("Pushed", id))
        return LayerBlob(lay.diff_id, digest, manifests.DOCKER_LAYER, size, self.ref.name)

    def _upload(self, src: BinaryIO, digest: str, size: int, id: str | None) -> None:
        """A monolithic upload: POST for an upload URL, PUT the bytes with their digest."""
        session = self.remote.session
        resp = session.request("POST", "blobs/uploads/", actions="pull,push", follow=False)
        self.remote.check(resp, (202,))
        resp.read()
        location = resp.header("Location")
        if not location:
            raise errors.System("the registry gave no upload location")
        sep = "&" if "?" in location else "?"
        body: Any = src if id is None else _Progress(src, size, id, self._emit)
        resp = session.request("PUT", f"{location}{sep}digest={digest}",
                               body=body, actions="pull,push", follow=False,
                               headers={"Content-Type": "application/octet-stream",
                                        "Content-Length": str(size)})  # fmt: skip
        self.remote.check(resp, (201, 204))
        resp.read()

    def _config(self) -> None:
        digest = manifests.digest_of(self.config_raw)
        if not self._exists(digest):
            self._upload(io.BytesIO(self.config_raw), digest, len(self.config_raw), None)

    def _manifest(self, descs: list[LayerBlob]) -> tuple[bytes, str]:
        config_digest = manifests.digest_of(self.config_raw)
        if self.pulled_manifest is not None:
            try:
                found = manifests.parse(
                    self.pulled_manifest, "", manifests.digest_of(self.pulled_manifest)
                )
            except errors.DockyardError:
                found = None
            if (
                isinstance(found, manifests.Manifest)
                and found.config.digest == config_digest
                and [d.digest for d in found.layers] == [b.digest for b in descs]
            ):
                return self.pulled_manifest, found.media_type
        oci = any(b.media_type.startswith("application/vnd.oci.") for b in descs)
        doc = {
            "schemaVersion": 2,
            "mediaType": manifests.OCI_MANIFEST if oci else manifests.DOCKER_MANIFEST,
            "config": {
                "mediaType": manifests.OCI_CONFIG if oci else manifests.DOCKER_CONFIG,
                "size": len(self.config_raw),
                "digest": config_digest,
            },
            "layers": [
                {
                    "mediaType": b.media_type or manifests.DOCKER_LAYER,
                    "size": b.size,
                    "digest": b.digest,
                }
                for b in descs
            ],
        }
        # Go's json.MarshalIndent(m, "", "   "), as dockerd serializes the manifests it pushes.
        return json.dumps(doc, indent=3).encode(), str(doc["mediaType"])


class _Progress:
    """A request body that reports "Pushing" progress as http.client reads it."""

    def __init__(
        self, src: BinaryIO, total: int, id: str, emit: Callable[[progress.Message], None]
    ) -> None:
        self._src = src
        self._total = total
        self._id = id
        self._emit = emit
        self._done = 0
        self._started = time.monotonic()
        self._throttle = progress.Throttle()

    def read(self, n: int = -1) -> bytes:
        data = self._src.read(n if n and n > 0 else CHUNK)
        self._done += len(data)
        if data and self._throttle.due():
            self._emit(
                progress.transfer("Pushing", self._id, self._done, self._total, self._started)
            )
        return data

    def seek(self, pos: int) -> None:
        self._src.seek(pos)
        self._done = pos


def _repository(name: str) -> Reference | None:
    try:
        return reference.parse(name)
    except errors.InvalidParameter:
        return None
