"""A read-only layer's path index (B1): every entry of its diff/ with its kind, size, mode and
mtime, so `explain` and `image layers` answer without walking the layer's tree.

Stored beside the layer as `overlay2/<id>/dockyard-index.json` (written by the layer store when
a layer is registered: pull, load, import, commit, build; built on first use for layers that
lack it, e.g. layers stored before the index existed). An image layer never changes once
registered, so a parsed index is kept in a small in-process LRU keyed by the layer directory.

Each entry: kind, size, mode, mtime and a symlink's target. Kinds: `f` regular file, `d` directory, `O` opaque directory (`trusted.overlay.opaque`: it hides
what the layers below have there), `l` symlink, `w` whiteout (a 0/0 character device: the path
is deleted), `o` anything else (fifo, device, socket). Sizes are apparent sizes (st_size), a
hardlinked inode counted once (its later names have size 0) as in a layer tar; directories 0.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import NamedTuple

from dockyard.storage.changes import is_opaque, is_whiteout

INDEX_NAME = "dockyard-index.json"
VERSION = 1
FILE, DIR, OPAQUE, SYMLINK, WHITEOUT, OTHER = "f", "d", "O", "l", "w", "o"
DIR_KINDS = (DIR, OPAQUE)


class Entry(NamedTuple):
    kind: str
    size: int
    mode: int  # st_mode (type and permission bits)
    mtime: int  # seconds
    target: str = ""  # a symlink's target

    @property
    def is_dir(self) -> bool:
        return self.kind in DIR_KINDS

    @property
    def file_bytes(self) -> int:
        """What the entry weighs in wasted-space sums: a regular file's bytes, else 0."""
        return self.size if self.kind == FILE else 0


Index = dict[str, Entry]  # "/etc/passwd" -> Entry


def _kind(st: os.stat_result, host: str) -> str:
    mode = st.st_mode
    if stat.S_ISREG(mode):
        return FILE
    if stat.S_ISDIR(mode):
        return OPAQUE if is_opaque(host) else DIR
    if stat.S_ISLNK(mode):
        return SYMLINK
    if is_whiteout(st):
        return WHITEOUT
    return OTHER


def build(diff: Path) -> Index:
    """Walk a diff/ directory once (sorted, so hardlink sizes land on the first name)."""
    out: Index = {}
    seen: set[tuple[int, int]] = set()
    stack = [""]
    root = os.fspath(diff)
    while stack:
        rel = stack.pop()
        try:
            with os.scandir(root + rel) as it:
                entries = sorted(it, key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            continue
        subdirs: list[str] = []
        for entry in entries:
            path = f"{rel}/{entry.name}"
            st = entry.stat(follow_symlinks=False)
            kind = _kind(st, entry.path)
            size = 0 if kind in DIR_KINDS else st.st_size
            if kind == FILE and st.st_nlink > 1:
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    size = 0
                seen.add(key)
            target = os.readlink(entry.path) if kind == SYMLINK else ""
            out[path] = Entry(kind, size, st.st_mode, int(st.st_mtime), target)
            if kind in DIR_KINDS:
                subdirs.append(path)
        stack.extend(reversed(subdirs))  # depth first in name order
    return dict(sorted(out.items()))


def entries_at(diff: Path, paths: list[str]) -> Index:
    """The entries of a live (writable) layer at `paths` only, by lstat: no index is kept
    for a layer that is still being written."""
    out: Index = {}
    for path in paths:
        host = os.fspath(diff) + path
        try:
            st = os.lstat(host)
        except (FileNotFoundError, NotADirectoryError):
            continue
        kind = _kind(st, host)
        target = os.readlink(host) if kind == SYMLINK else ""
        size = 0 if kind in DIR_KINDS else st.st_size
        out[path] = Entry(kind, size, st.st_mode, int(st.st_mtime), target)
    return out


def write(layer_dir: Path, index: Index) -> None:
    """Store `index` beside the layer (temp + rename: a reader never sees half a file). Each
    writer has its own temp file: two requests that index one shared layer at once (the
    dashboard asks for every image's layers together) must not rename each other's."""
    entries = {p: list(e) if e.target else list(e)[:4] for p, e in index.items()}
    body = {"version": VERSION, "entries": entries}
    fd, tmp = tempfile.mkstemp(prefix=f".{INDEX_NAME}.", suffix=".tmp", dir=layer_dir)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(body, separators=(",", ":")))
        os.replace(tmp, layer_dir / INDEX_NAME)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read(layer_dir: Path) -> Index | None:
    """The stored index, or None when there is none (or one of another version)."""
    try:
        body = json.loads((layer_dir / INDEX_NAME).read_bytes())
    except (FileNotFoundError, ValueError):
        return None
    if not isinstance(body, dict) or body.get("version") != VERSION:
        return None
    return {p: Entry(*v) for p, v in body["entries"].items()}


def index_layer(layer_dir: Path) -> Index:
    """Build and store the index of `layer_dir`/diff (the layer store calls it on register)."""
    index = build(layer_dir / "diff")
    write(layer_dir, index)
    return index


class LayerIndexes:
    """Parsed indexes of immutable layers, the most recently used kept in memory up to
    `max_entries` paths in all (~200 bytes each); the last one asked for always stays."""

    def __init__(self, max_entries: int = 250_000) -> None:
        self._cache: OrderedDict[str, Index] = OrderedDict()
        self._max = max_entries
        self._held = 0
        self._lock = threading.Lock()

    def get(self, layer_dir: Path) -> Index:
        key = os.fspath(layer_dir)
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
                return found
        index = read(layer_dir)
        if index is None:
            index = index_layer(layer_dir)
        with self._lock:
            if key not in self._cache:
                self._cache[key] = index
                self._held += len(index)
            while self._held > self._max and len(self._cache) > 1:
                _, old = self._cache.popitem(last=False)
                self._held -= len(old)
        return index

    def forget(self, layer_dir: Path) -> None:
        with self._lock:
            old = self._cache.pop(os.fspath(layer_dir), None)
            self._held -= len(old) if old is not None else 0

    def cached(self) -> list[str]:
        with self._lock:
            return list(self._cache)
