"""The archive API behind `cp` (S11): stat, get and put a path in a container's view.

    stat(ref, path)           HEAD: Docker's ContainerPathStat (name, size, Go FileMode, mtime,
                              linkTarget); the last component is not followed, as Docker
    get(ref, path)            GET: (stat, tar chunks); entries are named after the requested
                              base ("d/...", "./..." for "d/.", "/..." for "/")
    begin_put(ref, path, ...) PUT: validate, start the extractor (extractor.py) -> PutJob: the
                              caller streams the tar into job.fd, then job.finish(); the path
                              is resolved with the last symlink followed; Docker's read-only
                              checks and wording. put(...) does all three from a file object.

Each call mounts the container's rootfs (reference-counted, so created, running and stopped
containers all work) and builds a ContainerView over it and the container's mounts; the view
resolves paths in the container's scope and opens everything with O_NOFOLLOW (see view.py).
A GET holds its mount until the stream is finished or abandoned.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from dockyard import errors
from dockyard.core import timefmt
from dockyard.core.container import ContainerRecord
from dockyard.core.events import EventBus, container_attributes, publish_volumes
from dockyard.core.types import Json
from dockyard.services.containers import cppending, extractor, files
from dockyard.services.containers.view import ContainerView, Parts, ViewMount, show, split
from dockyard.services.containers.walker import TreeWalker
from dockyard.storage import copyarchive as ca
from dockyard.storage import copytar as ct
from dockyard.storage import usage
from dockyard.storage.protocols import LayerStore

NETWORK_FILES = (  # the files dockerd bind-mounts into every container
    ("HostsPath", "/etc/hosts"),
    ("HostnamePath", "/etc/hostname"),
    ("ResolvConfPath", "/etc/resolv.conf"),
)


def go_base(path: str) -> str:
    """Go's filepath.Base."""
    stripped = path.rstrip("/")
    if not stripped:
        return "/" if path else "."
    return stripped.rsplit("/", 1)[-1]


def abs_path(path: str) -> str:
    """Docker's PreserveTrailingDotOrSeparator(Join("/", path), path)."""
    cleaned = posixpath.normpath("/" + path)
    cleaned = "/" + cleaned.lstrip("/")
    if go_base(path) == "." and go_base(cleaned) != ".":
        cleaned = cleaned.rstrip("/") + "/."
    if path.endswith("/") and not cleaned.endswith("/"):
        cleaned += "/"
    return cleaned


def view_mounts(rec: ContainerRecord, pid: int | None) -> list[ViewMount]:
    """The container's mounts as the view sees them (tmpfs only while it runs)."""
    hc = rec.host_config
    out: list[ViewMount] = []
    proc_root = f"/proc/{pid}/root" if pid else ""
    for m in rec.doc.get("Mounts") or []:
        dest, rw = split(m.get("Destination") or ""), bool(m.get("RW", True))
        if m.get("Type") in ("volume", "bind") and m.get("Source"):
            out.append(ViewMount(dest, m["Source"], rw, volume=True))
        elif m.get("Type") == "tmpfs" and proc_root:
            out.append(ViewMount(dest, "", rw, volume=True, proc_root=proc_root))
    for tmpfs, opts in (hc.get("Tmpfs") or {}).items():
        if proc_root:
            rw = "ro" not in str(opts).split(",")
            out.append(ViewMount(split(tmpfs), "", rw, volume=True, proc_root=proc_root))
    ro_rootfs = bool(hc.get("ReadonlyRootfs"))
    for key, target in NETWORK_FILES:
        source = rec.doc.get(key) or ""
        if source and os.path.isfile(source):
            out.append(ViewMount(split(target), source, not ro_rootfs, volume=False))
    return out


class ContainerArchive:
    def __init__(
        self,
        get: Callable[[str], ContainerRecord],
        layers: LayerStore,
        events: EventBus,
        extractors: extractor.Extractors | None = None,
        containers_root: Path | None = None,
    ) -> None:
        self._get = get
        self.layers = layers
        self.containers_root = containers_root  # where cp markers go (cppending.py)
        self.events = events
        self.extractors = extractors or extractor.Extractors()

    def _publish(self, rec: ContainerRecord, action: str) -> None:
        attrs = container_attributes(rec.config, rec.name, {})
        self.events.publish("container", action, rec.id, attrs)

    @contextlib.contextmanager
    def _view(self, rec: ContainerRecord) -> Iterator[ContainerView]:
        """The container's files with its volumes, mounted for one copy: the volumes' `mount`
        and `unmount` events around it, as dockerd's mountVolumes/DetachAndUnmount."""
        running = rec.state.get("Status") in ("running", "paused", "restarting")
        pid = int(rec.state.get("Pid") or 0) if running else 0
        if pid and not os.path.exists(f"/proc/{pid}/root"):
            pid = 0
        rootfs = self.layers.mount(rec.id)
        try:
            rw = not rec.host_config.get("ReadonlyRootfs")
            publish_volumes(self.events, rec.id, rec.doc.get("Mounts") or [], "mount")
            try:
                with ContainerView(str(rootfs), rw, view_mounts(rec, pid)) as view:
                    yield view
            finally:
                publish_volumes(self.events, rec.id, rec.doc.get("Mounts") or [], "unmount")
        finally:
            self.layers.unmount(rec.id)

    # ---- stat ---------------------------------------------------------------------------

    def stat(self, ref: str, path: str) -> Json:
        rec = self._get(ref)
        self.extractors.prime()  # HEAD usually precedes a PUT (docker cp into a container)
        with self._view(rec) as view:
            return self._stat(view, ref, path)[0]

    def _stat(self, view: ContainerView, ref: str, path: str) -> tuple[Json, Parts]:
        absolute = abs_path(path)
        parts = view.resolve(absolute, follow_last=False)
        st = view.lstat(parts)
        if st is None:
            raise errors.NotFound(f"Could not find the file {path} in container {ref}")
        if absolute.endswith(("/", "/.")) and not stat.S_ISDIR(st.st_mode):
            raise errors.System(f"lstat {absolute}: not a directory")
        link = ""
        if stat.S_ISLNK(st.st_mode):
            link = show(view.resolve(absolute, follow_last=True))
        doc = {
            "name": go_base(absolute),
            "size": st.st_size,
            "mode": ct.go_file_mode(st.st_mode),
            "mtime": timefmt.rfc3339nano(st.st_mtime_ns),
            "linkTarget": link,
        }
        return doc, parts

    # ---- get ----------------------------------------------------------------------------

    def get(self, ref: str, path: str) -> tuple[Json, Iterator[bytes]]:
        """Validate now (errors get a status), stream later."""
        rec = self._get(ref)
        cm = self._view(rec)
        view = cm.__enter__()
        try:
            doc, parts = self._stat(view, ref, path)
        except BaseException:
            cm.__exit__(None, None, None)
            raise
        top = "." if abs_path(path).endswith("/.") else doc["name"]
        self._publish(rec, "archive-path")  # dockerd: once the archive is open, before streaming
        return doc, self._stream(cm, view, parts, top)

    def _stream(self, cm: Any, view: ContainerView, parts: Parts, top: str) -> Iterator[bytes]:
        try:
            yield from ct.coalesce(TreeWalker(view).entry(parts, top))
            yield ct.end_of_archive()
        finally:
            cm.__exit__(None, None, None)

    # ---- put ----------------------------------------------------------------------------

    def begin_put(
        self, ref: str, path: str, *, no_overwrite_dir_non_dir: bool, copy_uid_gid: bool
    ) -> PutJob:
        """Validate a PUT and start its extractor; the caller writes the tar to the job's `fd`,
        then calls `finish()` (always: it also releases the container's mount)."""
        rec = self._get(ref)
        cm = self._view(rec)
        view = cm.__enter__()
        marker: Path | None = None
        try:
            parts = view.resolve(abs_path(path), follow_last=True)
            st = view.lstat(parts)
            if st is None:
                raise errors.NotFound(f"Could not find the file {path} in container {ref}")
            if not stat.S_ISDIR(st.st_mode):
                raise errors.InvalidParameter("extraction point is not a directory")
            view.check_writable(view.covering(parts))
            chown = None
            if copy_uid_gid:  # Docker: the container's user and primary group own the files
                rootfs = Path(view.mounts[()].source)
                uid, gid, _ = files.resolve_user(rootfs, rec.config.get("User") or "")
                chown = (uid, gid)
            opts = ca.ExtractOptions(no_overwrite_dir_non_dir, chown, True, show(parts))
            marker = self._mark(rec, view.covering(parts), parts)
            job = self.extractors.take()
            try:
                job.send_spec(extractor.spec(view, parts, opts))
            except BaseException:
                job.kill()
                raise
        except BaseException:
            if marker is not None:
                cppending.unmark(marker)
            cm.__exit__(None, None, None)
            raise
        return PutJob(job, lambda ok: self._put_done(rec, cm, ok, marker))

    def _mark(self, rec: ContainerRecord, m: ViewMount, parts: Parts) -> Path | None:
        """The host directory this copy writes under, for the sweep after a crash."""
        if self.containers_root is None or not (m.source or not m.destination):
            return None  # a tmpfs: nothing outlives the container
        rel = parts[len(m.destination) :]
        if m.destination:
            host = os.path.join(m.source, *rel)
        else:  # the rootfs: new names land in the writable layer's upper dir
            data = self.layers.rw_graph_driver(rec.id)["Data"]
            assert isinstance(data, dict)
            host = os.path.join(str(data["UpperDir"]), *rel)
        return cppending.mark(self.containers_root / rec.id, host)

    def _put_done(
        self, rec: ContainerRecord, cm: Any, ok: bool, marker: Path | None = None
    ) -> None:
        if marker is not None:
            cppending.unmark(marker)
        if ok:
            self._publish(rec, "extract-to-dir")  # dockerd's order: before the unmount
        cm.__exit__(None, None, None)
        # The rootfs or a volume changed with no stamp changing (a stopped container).
        usage.SIZES.forget_all()

    def put(
        self,
        ref: str,
        path: str,
        body: BinaryIO,
        *,
        no_overwrite_dir_non_dir: bool,
        copy_uid_gid: bool,
    ) -> None:
        """A whole PUT from a file-like body, for callers without an event loop."""
        job = self.begin_put(
            ref, path, no_overwrite_dir_non_dir=no_overwrite_dir_non_dir, copy_uid_gid=copy_uid_gid
        )
        try:
            job.job.feed(body)
        finally:
            job.finish()


class PutJob:
    """A started extraction: write the tar to `fd` (non-blocking), then `finish()`."""

    def __init__(self, job: extractor.Job, done: Callable[[bool], None]) -> None:
        self.job = job
        self.fd = job.fd
        self._done = done

    def finish(self) -> None:
        """Wait for the extractor and raise its error; release the container's mount."""
        ok = False
        try:
            self.job.wait()
            ok = True
        finally:
            self._done(ok)
