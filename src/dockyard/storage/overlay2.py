"""The overlay2 graph driver with Docker's on-disk layout (S2, S3).

    <root>/<id>/diff/      the layer's content; the upper dir when the layer is mounted rw
    <root>/<id>/link       26-char base32 short id; <root>/l/<link> -> ../<id>/diff
    <root>/<id>/lower      "l/<parent link>:l/<grandparent link>:..." (only with a parent)
    <root>/<id>/work/      overlay workdir (only with a parent)
    <root>/<id>/merged/    the mount point, present while mounted
    <root>/<id>/committed  written on a parent when a child is created on it

Lifecycle: create(id, parent) -> apply_diff(id, tar) | get(id)/put(id) (mount reference counted
per id) -> remove(id). A mount left behind by a previous daemon process is adopted by the first
get() (found in /proc/self/mountinfo), so a live-restored container's mount is counted.
Thread-safe: a lock per id (striped: _STRIPES locks shared by hash) guards that id's mount
count, its mount/unmount and its removal, so one container's unmount and rmtree never waits
for another's (#17: parallel `rm`).
"""

from __future__ import annotations

import base64
import logging
import os
import re
import secrets
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from dockyard.core.layers import Change
from dockyard.errors import InvalidParameter, NotFound, System
from dockyard.rollback import Rollback
from dockyard.storage import archive, changes, fsflags, layerexport, mount
from dockyard.storage.trash import TRASH_DIR, Trash

log = logging.getLogger(__name__)

MAX_DEPTH = 128
LINK_DIR = "l"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_PAGE = os.sysconf("SC_PAGE_SIZE")
_STRIPES = 64


def new_link_id() -> str:
    """Docker's short id: 16 random bytes in base32, no padding, 26 chars of A-Z2-7."""
    return base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=")


def _index_off_supported() -> bool:
    # The overlay module exposes the `index` parameter exactly when it understands index=.
    return Path("/sys/module/overlay/parameters/index").exists()


class Overlay2:
    """overlay2 Driver (storage/protocols.py). See the module docstring for the lifecycle."""

    name = "overlay2"

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True, mode=0o710)
        (root / LINK_DIR).mkdir(exist_ok=True, mode=0o700)
        fsflags.mark_top_dir(root)  # each layer in a block group of its own (ext4)
        self._locks = [threading.Lock() for _ in range(_STRIPES)]
        self._mounts: dict[str, int] = {}
        self._index_off = "index=off," if _index_off_supported() else ""
        self.trash = Trash(root / TRASH_DIR)

    def _lock(self, id: str) -> threading.Lock:
        return self._locks[hash(id) % _STRIPES]

    # layout ---------------------------------------------------------------------------------

    def _dir(self, id: str) -> Path:
        if not _ID.match(id) or id == LINK_DIR:
            raise InvalidParameter(f"invalid layer id {id!r}")
        return self.root / id

    def exists(self, id: str) -> bool:
        return self._dir(id).is_dir()

    def diff_dir(self, id: str) -> Path:
        return self._dir(id) / "diff"

    def _lower(self, id: str) -> list[str]:
        """The `lower` file's entries ("l/<link>"), uppermost first; empty without a parent."""
        try:
            text = (self._dir(id) / "lower").read_text()
        except FileNotFoundError:
            return []
        return [s for s in text.split(":") if s]

    def lower_dirs(self, id: str) -> list[Path]:
        """The parents' diff dirs, uppermost first, resolved through the l/ links."""
        return [
            Path(os.path.normpath(self.root / LINK_DIR / os.readlink(self.root / s)))
            for s in self._lower(id)
        ]

    def create(self, id: str, parent: str | None) -> None:
        d = self._dir(id)
        if d.exists():
            raise System(f"layer {id} already exists")
        lower = ""
        if parent is not None:
            pdir = self._dir(parent)
            if not pdir.is_dir():
                raise NotFound(f"parent layer {parent} does not exist")
            chain = [f"{LINK_DIR}/{(pdir / 'link').read_text().strip()}", *self._lower(parent)]
            if len(chain) > MAX_DEPTH:
                raise System("max depth exceeded")
            lower = ":".join(chain)
        with Rollback() as rb:
            d.mkdir(mode=0o710)
            rb.push(shutil.rmtree, d, True)
            (d / "diff").mkdir(mode=0o755)
            link = new_link_id()
            (self.root / LINK_DIR / link).symlink_to(f"../{id}/diff")
            rb.push((self.root / LINK_DIR / link).unlink, True)
            (d / "link").write_text(link)
            if parent is not None:
                (d / "work").mkdir(mode=0o700)
                (d / "lower").write_text(lower)
                (self._dir(parent) / "committed").touch(mode=0o600)
            rb.commit()

    def remove(self, id: str) -> None:
        """Unmount (whatever the count), drop the short link, move the directory to the trash
        (its files are deleted by the trash's reaper, outside this call). Idempotent."""
        d = self._dir(id)
        with self._lock(id):
            merged = d / "merged"
            self._mounts.pop(id, None)
            while mount.is_mounted(merged):
                mount.unmount(merged)
            try:
                link = (d / "link").read_text().strip()
            except FileNotFoundError:
                link = ""
            if link:
                (self.root / LINK_DIR / link).unlink(missing_ok=True)
            self.trash.discard(d)

    def close(self) -> None:
        """Wait for the trash to be emptied (a daemon's stop); the driver is not used after."""
        self.trash.close()

    # mounts ---------------------------------------------------------------------------------

    def _mount(self, id: str, merged: Path) -> None:
        d = self._dir(id)
        lowers = self._lower(id)
        if not lowers:
            mount.bind_readonly(d / "diff", merged)
            return
        abs_lowers = [str(self.root / s) for s in lowers]
        if (d / "committed").exists():
            # A layer with children is an image layer: never write into it.
            opts = f"{self._index_off}lowerdir={d / 'diff'}:{':'.join(abs_lowers)}"
            rel = f"{self._index_off}lowerdir={id}/diff:{':'.join(lowers)}"
        else:
            opts = (
                f"{self._index_off}lowerdir={':'.join(abs_lowers)},"
                f"upperdir={d / 'diff'},workdir={d / 'work'}"
            )
            rel = (
                f"{self._index_off}lowerdir={':'.join(lowers)},upperdir={id}/diff,workdir={id}/work"
            )
        if len(opts) < _PAGE - 1:
            mount.mount("overlay", merged, "overlay", 0, opts)
        else:
            # Deep chains: the same options relative to the root fit in a page (Docker's mountFrom).
            if len(rel) >= _PAGE - 1:
                raise System(f"cannot mount layer {id}: mount options too long")
            mount.mount_relative(self.root, "overlay", rel, merged)

    def get(self, id: str) -> Path:
        d = self._dir(id)
        if not d.is_dir():
            raise NotFound(f"layer {id} does not exist")
        merged = d / "merged"
        with self._lock(id):
            count = self._mounts.get(id, 0)
            if count == 0:
                if mount.is_mounted(merged):
                    log.info("adopting existing mount of layer %s", id)
                else:
                    merged.mkdir(mode=0o700, exist_ok=True)
                    try:
                        self._mount(id, merged)
                    except BaseException:
                        merged.rmdir()
                        raise
            self._mounts[id] = count + 1
            return merged

    def put(self, id: str) -> None:
        merged = self._dir(id) / "merged"
        with self._lock(id):
            count = self._mounts.get(id, 0)
            if count > 1:
                self._mounts[id] = count - 1
                return
            self._mounts.pop(id, None)
            if mount.is_mounted(merged):
                mount.unmount(merged)
            if merged.is_dir():
                merged.rmdir()

    def mount_count(self, id: str) -> int:
        with self._lock(id):
            return self._mounts.get(id, 0)

    # contents -------------------------------------------------------------------------------

    def apply_diff(self, id: str, tar: BinaryIO) -> int:
        archive.apply_tar(tar, self.diff_dir(id))
        return self.diff_size(id)

    def diff(self, id: str) -> Iterator[bytes]:
        return layerexport.export_tar(self.diff_dir(id))

    def changes(self, id: str) -> list[Change]:
        return changes.overlay_changes(self.diff_dir(id), self.lower_dirs(id))

    def diff_size(self, id: str) -> int:
        return changes.apparent_size(self.diff_dir(id))

    def metadata(self, id: str) -> dict[str, str]:
        d = self._dir(id)
        data: dict[str, str] = {}
        lowers = self.lower_dirs(id)
        if lowers:
            data["LowerDir"] = ":".join(str(p) for p in lowers)
        data["MergedDir"] = str(d / "merged")
        data["UpperDir"] = str(d / "diff")
        data["WorkDir"] = str(d / "work")
        return data

    def ids(self) -> list[str]:
        """Every layer directory present (reconcile compares them with the metadata)."""
        return sorted(p.name for p in self.root.iterdir()
                      if p.name not in (LINK_DIR, TRASH_DIR) and p.is_dir())  # fmt: skip

    def prune_links(self) -> int:
        """Remove l/ links whose layer is gone; returns how many."""
        removed = 0
        for link in (self.root / LINK_DIR).iterdir():
            if link.is_symlink() and not link.exists():
                link.unlink()
                removed += 1
        return removed
