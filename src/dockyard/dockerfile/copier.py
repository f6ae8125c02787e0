"""COPY and ADD (MISSION S1): resolve sources in the context (or another stage's or image's
root), hash what they read for the cache, and write the step's layer tar directly (no container,
no runc): only the copied entries plus their parent directories, whose metadata is taken from the
parent image when they exist there (as overlay's copy-up would record them).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import posixpath
import stat
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from dockyard.dockerfile.rootview import RootView
from dockyard.errors import InvalidParameter
from dockyard.storage import beneath

_ARCHIVE_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")


@dataclass
class Source:
    rel: str  # as written, for messages
    path: Path  # resolved on the host, inside the source root
    is_dir: bool


@dataclass
class CopyPlan:
    sources: list[Source]
    dest: str  # absolute in the image
    dest_is_dir: bool
    digest: str = ""
    kind: str = "file"
    entries: list[tuple[str, Path]] = field(default_factory=list)  # (image path, host path)


def in_scope(root: Path, rel: str) -> Path:
    """`rel` resolved inside `root`, symlinks followed as if `root` were `/` (no escape)."""
    try:
        return beneath.in_scope(root, rel)
    except OSError as e:
        raise InvalidParameter(f"too many links in {rel}") from e


def _check_inside(src: str, what: str) -> None:
    norm = posixpath.normpath(src)
    if norm == ".." or norm.startswith("../"):
        raise InvalidParameter(f"{what} failed: forbidden path outside the build context: {src} ()")


def resolve_sources(root: Path, srcs: list[str], what: str, from_context: bool) -> list[Source]:
    out: list[Source] = []
    for src in srcs:
        if from_context:
            _check_inside(src, what)
        if any(ch in src for ch in "*?["):
            pattern = posixpath.normpath(src.lstrip("/"))
            for dirpath, dirnames, filenames in os.walk(root):
                rel_dir = os.path.relpath(dirpath, root)
                for name in sorted(dirnames + filenames):
                    rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                    if fnmatch.fnmatchcase(rel, pattern) and rel.count("/") == pattern.count("/"):
                        p = root / rel
                        out.append(Source(rel, p, p.is_dir() and not p.is_symlink()))
            continue
        path = in_scope(root, src)
        if not os.path.lexists(path):
            name = posixpath.normpath(src.lstrip("/")) or "."
            if from_context:
                raise InvalidParameter(
                    f"{what} failed: file not found in build context or excluded by .dockerignore:"
                    f" stat {name}: file does not exist"
                )
            raise InvalidParameter(f"{what} failed: stat {src}: file does not exist")
        out.append(Source(src, path, path.is_dir()))
    if not out:
        raise InvalidParameter(f"{what} failed: no source files were specified")
    return out


def _hash_file(h: hashlib._Hash, rel: str, path: Path) -> None:
    st = os.lstat(path)
    h.update(f"{rel}\0{stat.S_IFMT(st.st_mode)}\0{st.st_mode & 0o7777:o}\0{st.st_size}\0".encode())
    if stat.S_ISLNK(st.st_mode):
        h.update(os.readlink(path).encode())
    elif stat.S_ISREG(st.st_mode):
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)


def plan(
    sources: list[Source], dest: str, workdir: str, what: str, is_dir: Callable[[str], bool]
) -> CopyPlan:
    """Where each source goes and the content hash the cache and history use. `is_dir` says
    whether a path is a directory in the parent image (a file copied onto one goes inside)."""
    absdest = posixpath.normpath(posixpath.join(workdir or "/", dest))
    dest_is_dir = dest.endswith("/") or dest.endswith("/.") or dest == "." or is_dir(absdest)
    if len(sources) > 1 and not dest_is_dir:
        raise InvalidParameter(
            f"When using {what} with more than one source file, the destination must be a"
            " directory and end with a /"
        )
    p = CopyPlan(sources, absdest, dest_is_dir)
    h = hashlib.sha256()
    for s in sources:
        if s.is_dir:
            p.kind = "dir"
            for dirpath, dirnames, filenames in os.walk(s.path):
                dirnames.sort()
                rel_dir = os.path.relpath(dirpath, s.path)
                for name in sorted(dirnames + filenames):
                    rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                    host = Path(dirpath) / name
                    p.entries.append((posixpath.join(absdest, rel), host))
                    _hash_file(h, rel, host)
        else:
            target = posixpath.join(absdest, os.path.basename(s.path)) if dest_is_dir else absdest
            p.entries.append((target, s.path))
            _hash_file(h, os.path.basename(s.path), s.path)
    if len(sources) > 1:
        p.kind = "multi"
    p.digest = h.hexdigest()
    return p


def is_archive(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(262)
    except OSError:
        return False
    if any(head.startswith(m) for m in _ARCHIVE_MAGIC):
        return True
    return len(head) >= 262 and head[257:262] == b"ustar"


def write_layer(
    out: IO[bytes],
    p: CopyPlan,
    parent: RootView,
    uid: int,
    gid: int,
    chmod: int | None,
    extract: Callable[[Path], bool] = lambda _: False,
) -> None:
    """The layer tar: parent dirs, then the entries (`extract(path)` True: unpack that archive
    into the destination, ADD's rule for local tars)."""
    now = time.time()
    done: set[str] = set()
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:

        def ensure_dirs(path: str) -> None:
            parts = [x for x in path.split("/") if x]
            for n in range(1, len(parts) + 1):
                d = "/".join(parts[:n])
                if d in done:
                    continue
                done.add(d)
                ti = tarfile.TarInfo(d)
                ti.type = tarfile.DIRTYPE
                st = parent.lstat(d)
                if st is not None and stat.S_ISDIR(st.st_mode):
                    ti.mode, ti.uid, ti.gid, ti.mtime = (
                        st.st_mode & 0o7777,
                        st.st_uid,
                        st.st_gid,
                        now,
                    )
                else:
                    ti.mode, ti.uid, ti.gid, ti.mtime = 0o755, uid, gid, now
                tf.addfile(ti)

        dest_dir = p.dest if (p.dest_is_dir or p.kind != "file") else posixpath.dirname(p.dest)
        ensure_dirs(dest_dir)
        for target, host in p.entries:
            rel = target.lstrip("/")
            if extract(host):
                with tarfile.open(host, mode="r:*") as src:
                    for member in src:
                        inner = posixpath.normpath(posixpath.join(dest_dir, member.name)).lstrip(
                            "/"
                        )
                        if inner.startswith("../") or inner == "..":
                            raise InvalidParameter(
                                f"ADD failed: {member.name!r} is outside of the destination"
                            )
                        if member.isdev() or member.isfifo():
                            continue
                        ensure_dirs(posixpath.dirname(inner))
                        member.name = inner
                        if member.islnk():
                            member.linkname = posixpath.normpath(
                                posixpath.join(dest_dir, member.linkname)
                            ).lstrip("/")
                        fobj = src.extractfile(member) if member.isreg() else None
                        tf.addfile(member, fobj)
                        if member.isdir():
                            done.add(inner)
                continue
            ensure_dirs(posixpath.dirname(rel))
            ti = tf.gettarinfo(str(host), arcname=rel)
            ti.uid, ti.gid, ti.uname, ti.gname = uid, gid, "", ""
            if chmod is not None:
                ti.mode = chmod
            if ti.isdir():
                done.add(rel)
                tf.addfile(ti)
            elif ti.isreg():
                with open(host, "rb") as f:
                    tf.addfile(ti, f)
            else:
                tf.addfile(ti)
