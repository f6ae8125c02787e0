"""Read-side operations on containers: inspect, ps (list, sizes, filters), diff, top, export,
logs, and rename."""

from __future__ import annotations

import builtins
import time
from collections.abc import AsyncIterator, Callable, Iterator

from dockyard import errors, heap
from dockyard.core.container import ContainerRecord
from dockyard.core.types import Filters, Json
from dockyard.network import links
from dockyard.runtime import logopts
from dockyard.services.containers import names, status
from dockyard.services.containers.execs import Execs
from dockyard.services.containers.shared import ContainerShared, running

ENCODED_MAX = 4096  # refs whose encoded inspect is kept; then the cache starts again


class Queries:
    def __init__(self, shared: ContainerShared, execs: Execs) -> None:
        self.shared = shared
        self.repo = shared.repo
        self.layers = shared.layers
        self.images = shared.images
        self.launcher = shared.launcher
        self.execs = execs
        # ref -> (store generation, container id, its exec ids, encoded inspect)
        self._encoded: dict[str, tuple[int, str, builtins.list[str], bytes]] = {}
        self._encoded_at = 0  # the generation the kept entries were made under
        heap.on_idle(self.release_stale)

    def release_stale(self) -> None:
        """Kept answers a write has made stale (those of removed containers among them) are
        dropped while the daemon idles too, not only at the next miss (heap.on_idle)."""
        if self._encoded_at != self.repo.generation:
            self._encoded = {}

    def inspect_encoded(self, ref: str, encode: Callable[[Json], bytes]) -> bytes:
        """`encode(inspect(ref))`, kept per ref while no container record has been written since
        (the store's generation: a rename, a link target's name, a state change all write one)
        and the container's exec ids are the same: a container polled by many clients is read
        and encoded once (#17, R1: 2,000 GETs over 20 connections). Read before the record, the
        generation can only make an entry look older than it is, never newer."""
        generation = self.repo.generation
        body = self.inspect_kept(ref)
        if body is not None:
            return body
        doc = self.inspect(ref)
        body = encode(doc)
        entries = self._encoded
        if self._encoded_at != generation or len(entries) >= ENCODED_MAX:
            # a write made every entry stale: none is kept in vain
            entries = self._encoded = {}
            self._encoded_at = generation
        entries[ref] = (generation, doc["Id"], doc["ExecIDs"] or [], body)
        return body

    def inspect_kept(self, ref: str) -> bytes | None:
        """The kept answer of inspect_encoded() while it is still valid; cheap enough for the
        event loop (no store read)."""
        hit = self._encoded.get(ref)
        if (
            hit is not None
            and hit[0] == self.repo.generation
            and hit[2] == self.execs.ids_for(hit[1])
        ):
            return hit[3]
        return None

    def inspect(self, ref: str, size: bool = False) -> Json:
        rec = self.shared.get(ref)
        d = rec.doc
        out: Json = {
            "Id": rec.id,
            "Created": rec.created,
            "Path": d["Path"],
            "Args": d["Args"],
            "State": _state(rec),
            "Image": rec.image_id,
            "ResolvConfPath": d.get("ResolvConfPath", ""),
            "HostnamePath": d.get("HostnamePath", ""),
            "HostsPath": d.get("HostsPath", ""),
            # dockerd shows json-file's path only: local's files are no API (moby container.go)
            "LogPath": rec.log_path if _driver(rec) == logopts.JSON_FILE else "",
            "Name": "/" + rec.name,
            "RestartCount": rec.run.restart_count,
            "Driver": "overlay2",
            "Platform": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "ExecIDs": self.execs.ids_for(rec.id) or None,
            "HostConfig": self._host_config(rec),
            "GraphDriver": self.layers.rw_graph_driver(rec.id),
            "Mounts": d.get("Mounts") or [],
            "Config": rec.config,
            "NetworkSettings": d["NetworkSettings"],
        }
        if size:
            out.update(self._sizes(rec))
        return out

    def _host_config(self, rec: ContainerRecord) -> Json:
        """HostConfig as stored, its Links as dockerd shows them: `/target:/self/alias`, the
        targets' names of now, a removed target's link gone."""
        hc = rec.host_config
        if not hc.get("Links"):
            return hc
        shown = []
        for spec in hc["Links"]:
            link = links.parse(spec)
            try:
                target = self.shared.get(link.name)
            except errors.NotFound:
                continue
            shown.append(f"/{target.name}:/{rec.name}/{link.alias}")
        return {**hc, "Links": shown or None}

    def _sizes(self, rec: ContainerRecord, bases: dict[str, int] | None = None) -> Json:
        """SizeRw walks the writable layer unless the container is stopped and was walked
        under the same start (status.size_stamp); the image part is looked up once per image
        in a listing (`bases`)."""
        rw = self.layers.rw_size(rec.id, status.size_stamp(rec))
        bases = {} if bases is None else bases
        base = bases.get(rec.image_id)
        if base is None:
            top = self.images.top_layer(rec.image_id)
            base = sum(layer.size for layer in self.layers.chain(top)) if top else 0
            bases[rec.image_id] = base
        return {"SizeRw": rw, "SizeRootFs": base + rw}

    def list(self, all: bool, limit: int, size: bool, filters: Filters) -> builtins.list[Json]:
        status.validate_filters(filters)
        recs = self.repo.all_views()  # read-only: nothing below mutates a record
        link_names = _link_names(recs)
        if not all and not filters.get("status") and not filters.get("exited"):
            recs = [r for r in recs if r.state["Status"] in ("running", "paused", "restarting")]
        recs = [r for r in recs if status.matches(r, filters, self._image_matches)]
        if limit and limit > 0:
            recs = recs[:limit]
        now = time.time()
        out = [status.summary(r, r.config.get("Image", ""), now) for r in recs]
        for row, r in zip(out, recs, strict=True):
            row["Names"] += link_names.get(r.id, [])
        if size:
            bases: dict[str, int] = {}
            for row, r in zip(out, recs, strict=True):
                row.update(self._sizes(r, bases))
        return out

    def _image_matches(self, ref: str, image_id: str) -> bool:
        try:
            return bool(self.images.resolve(ref).id == image_id)
        except errors.NotFound:
            return False

    def rename(self, ref: str, new_name: str) -> None:
        rec = self.shared.get(ref)
        new = names.validate(new_name)
        with self.shared.create_lock:
            if (other := self.repo.by_name(new)) is not None:
                raise errors.Conflict(
                    f'Conflict. The container name "/{new}" is already in use by container '
                    f'"{other.id}". You have to remove (or rename) that container to be able to '
                    "reuse that name."
                )
            old = rec.name
            rec.name = new
            self.repo.save(rec)
            self._relink(old, new)
        self.shared.publish(rec, "rename", oldName="/" + old)

    def _relink(self, old: str, new: str) -> None:
        """A renamed link target stays linked, under its new name (dockerd keeps links by
        container: inspect's HostConfig.Links shows `/new:/parent/alias`)."""
        for parent in self.repo.all():
            specs = parent.host_config.get("Links") or []
            moved = [f"{new}:{link.alias}" if link.name == old else spec
                     for spec, link in ((spec, links.parse(spec)) for spec in specs)]  # fmt: skip
            if moved != specs:
                parent.host_config["Links"] = moved
                self.repo.save(parent)

    def changes(self, ref: str) -> builtins.list[Json]:
        rec = self.shared.get(ref)
        return [{"Path": c.path, "Kind": c.kind} for c in self.layers.changes(rec.id)]

    def top(self, ref: str, ps_args: str) -> Json:
        rec = self.shared.get(ref)
        if not running(rec):
            raise errors.Conflict(f"Container {rec.id} is not running")
        listing = self.launcher.top(rec.id, ps_args or "-ef")
        self.shared.publish(rec, "top")
        return listing

    def export(self, ref: str) -> Iterator[bytes]:
        rec = self.shared.get(ref)
        stream = self.launcher.export_rootfs(rec.id)
        self.shared.publish(rec, "export")  # dockerd: once the archive is open, before streaming
        return stream

    def resize(self, ref: str, height: int, width: int) -> None:
        rec = self.shared.get(ref)
        if not running(rec):
            raise errors.Conflict(f"Container {rec.id} is not running")
        self.launcher.resize(rec, height, width)
        self.shared.publish(rec, "resize", height=str(height), width=str(width))

    def logs(
        self,
        ref: str,
        *,
        follow: bool,
        stdout: bool,
        stderr: bool,
        since: float,
        until: float,
        timestamps: bool,
        tail: str,
    ) -> AsyncIterator[tuple[int, bytes]]:
        rec = self.shared.get(ref)
        if _driver(rec) == logopts.NONE:
            raise errors.Unsupported("configured logging driver does not support reading")
        n = None if tail in ("", "all") else int(tail) if tail.lstrip("-").isdigit() else None
        return self.launcher.logs(
            rec,
            follow=follow,
            stdout=stdout,
            stderr=stderr,
            since=since,
            until=until,
            timestamps=timestamps,
            tail=n,
            is_running=lambda: self._is_running_now(rec.id),
        )

    def _is_running_now(self, cid: str) -> bool:
        return cid in self.shared.watchers


def _driver(rec: ContainerRecord) -> str:
    return (rec.host_config.get("LogConfig") or {}).get("Type") or logopts.JSON_FILE


def _state(rec: ContainerRecord) -> Json:
    """State as inspect shows it: with `Health` once a healthcheck has been set up (E6)."""
    st = dict(rec.state)
    if rec.health is not None:
        st["Health"] = rec.health.doc()
    return st


def _link_names(recs: builtins.list[ContainerRecord]) -> dict[str, builtins.list[str]]:
    """Each link target's extra names, `/parent/alias`, as dockerd lists them after its own."""
    ids = {key: r.id for r in recs for key in (r.id, r.name)}
    out: dict[str, builtins.list[str]] = {}
    for r in recs:
        for spec in r.host_config.get("Links") or []:
            link = links.parse(spec)
            target = ids.get(link.name)
            if target:
                out.setdefault(target, []).append(f"/{r.name}/{link.alias}")
    return out
