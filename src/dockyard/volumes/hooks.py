"""`MountHooks` for the container lifecycle (S8-S10): volumes, bind mounts and tmpfs.

validate   at create: parse every spec (Docker's 400s) and find every `--volumes-from`
           container (404) before anything exists
prepare    at create: copy the volumes and binds of `--volumes-from` containers (mode override),
           ensure named/anonymous volumes, take references, populate empty ones from the image;
           returns inspect's `.Mounts`; undoes itself on error
oci_mounts at start: bind/tmpfs entries for the OCI spec (missing `-v` sources are made); what
           no own spec names (inherited mounts, image VOLUMEs) comes from the stored `.Mounts`,
           so a container keeps its inherited mounts after their source container is gone
release    at rm: drop references; with `remove_anonymous`, remove anonymous volumes no one
           else uses. Idempotent, best effort.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from dockyard import errors
from dockyard.core.container import ContainerRecord
from dockyard.core.types import Json
from dockyard.rollback import Rollback
from dockyard.storage import usage
from dockyard.volumes import specs
from dockyard.volumes.local import oci_mount
from dockyard.volumes.populate import populate
from dockyard.volumes.specs import MountPoint
from dockyard.volumes.store import ANONYMOUS_LABEL, VolumeStore

log = logging.getLogger(__name__)


def _volume_names(doc: Json) -> list[tuple[str, str]]:
    """(name, destination) of the volumes a stored container mounts."""
    return [
        (m["Name"], m["Destination"])
        for m in doc.get("Mounts") or []
        if m.get("Type") == "volume" and m.get("Name")
    ]


def volume_users(recs: list[ContainerRecord]) -> list[tuple[str, list[str]]]:
    return [(r.id, [n for n, _ in _volume_names(r.doc)]) for r in recs]


def _inspect(p: MountPoint, name: str = "", source: str = "") -> Json:
    if p.type == "volume":
        return {
            "Type": "volume",
            "Name": name,
            "Source": source,
            "Destination": p.destination,
            "Driver": p.driver,
            "Mode": p.mode,
            "RW": p.rw,
            "Propagation": p.propagation,
        }
    return {
        "Type": p.type,
        "Source": p.source,
        "Destination": p.destination,
        "Mode": p.mode,
        "RW": p.rw,
        "Propagation": p.propagation,
    }


def _bind(source: str, destination: str, rw: bool, propagation: str, recursive: bool) -> Json:
    opts = ["rbind" if recursive else "bind", propagation or specs.DEFAULT_PROPAGATION]
    if not rw:
        opts.append("ro")
    return {"destination": destination, "type": "bind", "source": source, "options": opts}


def _inherit(m: Json, rw: bool) -> Json:
    """A source container's mount as `--volumes-from` copies it: Mode dropped, RW only if both
    the source mount and the requested mode allow it (moby's registerMountPoints)."""
    out = {k: m.get(k, "") for k in ("Type", "Name", "Source", "Destination", "Driver")}
    if m.get("Type") != "volume":
        del out["Name"], out["Driver"]
    out.update(Mode="", RW=bool(m.get("RW", True)) and rw, Propagation=m.get("Propagation", ""))
    return out


class VolumeMounts:
    def __init__(
        self,
        store: VolumeStore,
        data_root: Path,
        lookup: Callable[[str], ContainerRecord] | None = None,
    ) -> None:
        self.store = store
        self.data_root = str(data_root)
        self.lookup = lookup  # container by name/id (404 when missing): for --volumes-from

    def _inherited(self, host_config: Json) -> dict[str, Json]:
        """Destination -> inspect entry of every volume and bind of the `--volumes-from`
        containers, a later source winning at the same destination."""
        out: dict[str, Json] = {}
        for spec in host_config.get("VolumesFrom") or []:
            ref, rw = specs.parse_volumes_from(str(spec))
            if self.lookup is None:
                raise errors.System("--volumes-from needs a container lookup")
            try:
                source = self.lookup(ref)
            except errors.NotFound as e:  # dockerd 20.10 answers 400 here, not 404
                raise errors.InvalidParameter(e.message) from None
            for m in source.doc.get("Mounts") or []:
                if m.get("Type") in ("volume", "bind") and m.get("Destination"):
                    out[m["Destination"]] = _inherit(m, rw)
        return out

    def _bind_default(self, p: MountPoint) -> MountPoint:
        """A bind without propagation is rprivate, or rslave when its source holds the data
        root, so mounts the daemon makes later still reach it (as dockerd decides)."""
        if p.type != "bind" or p.propagation:
            return p
        src = p.source.rstrip("/") + "/"
        default = "rslave" if (self.data_root + "/").startswith(src) else "rprivate"
        return replace(p, propagation=default)

    def validate(self, config: Json, host_config: Json) -> None:
        specs.parse_all(config, host_config)
        self._inherited(host_config)

    def prepare(self, rec: ContainerRecord, rootfs: Path) -> list[Json]:
        points = specs.parse_all(rec.config, rec.host_config)
        # Own -v/--mount/--tmpfs win over inherited mounts, which win over image VOLUMEs.
        explicit = {p.destination for p in specs.parse_all({}, rec.host_config)}
        inherited = [m for d, m in self._inherited(rec.host_config).items() if d not in explicit]
        covered = {m["Destination"] for m in inherited}
        out: list[Json] = []
        with Rollback() as rb:
            for m in inherited:
                if m["Type"] == "volume":
                    self.store.take(m["Name"], rec.id)
                    rb.push(self.store.dereference, m["Name"], rec.id)
                out.append(m)
            for p in map(self._bind_default, points):
                if p.destination in covered:
                    continue
                if p.type != "volume":
                    if p.in_inspect:
                        out.append(_inspect(p))
                    continue
                name = p.source or secrets.token_hex(32)
                labels = dict(p.labels) if p.source else {ANONYMOUS_LABEL: "", **p.labels}
                vol, created = self.store.ensure(
                    name, p.driver, labels or None, p.driver_options or None, cid=rec.id
                )
                if created:
                    rb.push(self.store.remove, name, True)
                rb.push(self.store.dereference, name, rec.id)
                if p.copy_data and not vol.options:
                    populate(rootfs, p.destination, self.store.driver.path(name))
                    usage.SIZES.forget_all()  # no stamp changes if the volume is in use
                out.append(_inspect(p, name, self.store.mountpoint(name)))
            rb.commit()
        return out

    def oci_mounts(self, rec: ContainerRecord) -> list[Json]:
        names = {dest: name for name, dest in _volume_names(rec.doc)}
        explicit = {p.destination for p in specs.parse_all({}, rec.host_config)}
        out: list[Json] = []
        for m in rec.doc.get("Mounts") or []:
            dest = m.get("Destination", "")
            if dest in explicit or not m.get("Source"):
                continue
            if m.get("Type") == "bind":
                prop = m.get("Propagation") or specs.DEFAULT_PROPAGATION
                out.append(_bind(m["Source"], dest, bool(m.get("RW", True)), prop, True))
            elif m.get("Type") == "volume":
                out.append(self._volume_mount(m["Name"], dest, bool(m.get("RW", True))))
        for p in map(self._bind_default, specs.parse_all(rec.config, rec.host_config)):
            if p.destination not in explicit:
                continue  # an image VOLUME or an inherited mount: done above
            if p.type == "tmpfs":
                out.append(
                    {
                        "destination": p.destination,
                        "type": "tmpfs",
                        "source": "tmpfs",
                        "options": [*p.tmpfs_options, specs.DEFAULT_PROPAGATION],
                    }
                )
            elif p.type == "bind":
                if p.create_source and not os.path.exists(p.source):
                    os.makedirs(p.source, mode=0o755, exist_ok=True)
                out.append(_bind(p.source, p.destination, p.rw, p.propagation, p.recursive))
            elif p.destination in names:
                out.append(self._volume_mount(names[p.destination], p.destination, p.rw, p))
        return out

    def _volume_mount(self, name: str, dest: str, rw: bool, p: MountPoint | None = None) -> Json:
        vol = self.store.get(name)
        if vol.options:
            return oci_mount(vol.options, dest, rw)
        propagation = p.propagation if p is not None else ""
        return _bind(self.store.mountpoint(vol.name), dest, rw, propagation, True)

    def release(self, rec: ContainerRecord, remove_anonymous: bool) -> None:
        for name, _ in _volume_names(rec.doc):
            self.store.dereference(name, rec.id)
            if not remove_anonymous:
                continue
            try:
                vol = self.store.repo.get(name)
                if vol is not None and ANONYMOUS_LABEL in (vol.labels or {}):
                    self.store.remove(name, force=True)
            except errors.Conflict:
                pass  # still used by another container (--volumes-from): it stays
            except errors.DockyardError as e:
                log.warning("remove volume %s: %s", name, e)
