"""The provenance service (B1): `explain` for images and containers, `image layers`. It fetches
an image's layers, their path indexes (storage/layerindex.py) and its history, hands them to
images/provenance.py, and adds a container's own layers (init and writable, read by lstat: they
change) and its mounts. The JSON shapes are documented in docs/provenance.md."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable
from typing import Any

from dockyard.core.container import ContainerRecord
from dockyard.core.types import Json
from dockyard.errors import NotFound
from dockyard.images import provenance as prov
from dockyard.services.containers.archive import NETWORK_FILES
from dockyard.services.images import Images
from dockyard.storage import layerindex
from dockyard.storage.protocols import LayerStore


def covering_mount(rec: ContainerRecord, path: str) -> dict[str, Any] | None:
    """The mount that shows `path` in the container: the longest destination containing it."""
    found: list[dict[str, Any]] = []
    for m in rec.doc.get("Mounts") or []:
        found.append({"type": m.get("Type") or "volume", "destination": m.get("Destination"),
                      "source": m.get("Source") or "", "name": m.get("Name") or ""})  # fmt: skip
    for dest in rec.host_config.get("Tmpfs") or {}:
        found.append({"type": "tmpfs", "destination": dest, "source": "", "name": ""})
    for key, dest in NETWORK_FILES:
        if rec.doc.get(key):
            found.append({"type": "bind", "destination": dest, "source": rec.doc[key], "name": ""})
    best: dict[str, Any] | None = None
    for m in found:
        dest = posixpath.normpath(str(m["destination"] or "/"))
        inside = path == dest or path.startswith(dest.rstrip("/") + "/")
        if inside and (best is None or len(dest) > len(str(best["destination"]))):
            best = {**m, "destination": dest}
    return best


class Provenance:
    def __init__(
        self, images: Images, layers: LayerStore, container: Callable[[str], ContainerRecord]
    ) -> None:
        self.images = images
        self.layers = layers
        self.container = container

    def _image_layers(self, image_id: str, top: str | None = None) -> list[prov.ImageLayer]:
        """The image's layers, or the chain under `top` (a container's: its image may be gone,
        force-removed, then the layers have no history)."""
        try:
            history = self.images.config(image_id).get("history") or []
            top = top or self.images.top_layer(image_id)
        except NotFound:
            if top is None:
                raise
            history = []
        chain = self.layers.chain(top) if top else []
        paired = prov.pair_history(chain, history)
        return [
            prov.ImageLayer(i, layer, paired[i], self.layers.index(layer.chain_id))
            for i, layer in enumerate(chain)
        ]

    def image_layers(self, ref: str) -> Json:
        rec = self.images.resolve(ref)
        return {"image": rec.id, **prov.analyze(self._image_layers(rec.id))}

    def explain_image(self, ref: str, path: str) -> Json:
        rec = self.images.resolve(ref)
        layers = self._image_layers(rec.id)
        indexes = [il.files for il in reversed(layers)]
        path = prov.clean_path(path)
        resolved = prov.resolve(lambda p: prov.visible_entry(indexes, p), path)
        rows, exists = prov.explain_layers(layers, resolved)
        top = rows[-1]["index"] if exists else None
        return {"image": rec.id, "path": path, "resolved": resolved, "layers": rows,
                "visible": {"exists": exists, "from": "image" if exists else None,
                            "layer": top}}  # fmt: skip

    def explain_container(self, ref: str, path: str) -> Json:
        rec = self.container(ref)
        top = self.layers.get_rw(rec.id).parent
        layers = self._image_layers(rec.image_id, top) if top else []
        init_dir, upper = self.layers.rw_dirs(rec.id)
        indexes = [il.files for il in reversed(layers)]

        def lookup(p: str) -> layerindex.Entry | None:
            wanted = [*prov.ancestors(p), p]
            live = [layerindex.entries_at(d, wanted) for d in (upper, init_dir)]
            return prov.visible_entry([*live, *indexes], p)

        asked = prov.clean_path(path)
        path = prov.resolve(lookup, asked)
        rows, exists = prov.explain_layers(layers, path)
        source = "image" if exists else None
        wanted = [*prov.ancestors(path), path]
        for name, diff in (("init", init_dir), ("container", upper)):
            index = layerindex.entries_at(diff, wanted)
            own, via = prov.touch(index, path, wanted[:-1])
            if own is None and (via is None or not exists):
                continue
            row: dict[str, Any] = {"index": len(layers) + (name == "container"),
                                   "layer": name, "instruction": name + " layer"}  # fmt: skip
            if own is None or own.kind == layerindex.WHITEOUT:
                row.update(action=prov.DELETED, type="whiteout", size=0, via=via)
                exists, source = False, None
            else:
                row.update(action=prov.CHANGED if exists else prov.ADDED, **prov.entry_doc(own))
                if via is not None:
                    row["via"] = via
                if name == "container":
                    st = os.lstat(os.fspath(diff) + path)
                    row.update(copied_up=exists, ctime=int(st.st_ctime))
                exists, source = True, name
            rows.append(row)
        mount = covering_mount(rec, path)
        visible: dict[str, Any] = {"exists": exists, "from": source}
        if mount is not None:
            rest = path[len(mount["destination"]) :].lstrip("/")
            host = os.path.join(mount["source"], rest) if rest else mount["source"]
            here = os.path.lexists(host) if mount["source"] else None
            visible = {"exists": here, "from": mount["type"], "mount": mount}
        return {"container": rec.id, "image": rec.image_id, "path": asked, "resolved": path,
                "layers": rows,
                "visible": visible}  # fmt: skip
