"""The build context (MISSION S1): a tar (plain, gzip, bzip2 or xz) unpacked into a fresh
directory under <data-root>/tmp, safely, then `.dockerignore` applied.

Safety: every entry is created relative to a directory fd, component by component with
O_NOFOLLOW, so neither a `..` name, an absolute name (taken relative to the context, as Docker
does) nor a symlink planted by an earlier entry can write outside the context directory. Device
nodes and FIFOs are refused; so are contexts past the size or entry limits.
"""

from __future__ import annotations

import errno
import os
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dockyard.core.tarpaths import Escape, member_parts
from dockyard.dockerfile import ignore
from dockyard.errors import InvalidParameter
from dockyard.storage.beneath import DIR_FLAGS, open_below, remove_existing

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 16 << 30
    max_entries: int = 1_000_000


def _parts(name: str) -> tuple[str, ...]:
    try:
        return member_parts(name)
    except Escape:
        raise InvalidParameter(
            f'Error processing tar file: "{name}" is outside of the build context'
        ) from None


def _open_dir(root_fd: int, parts: tuple[str, ...]) -> int:
    try:
        return open_below(root_fd, parts, create=True)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR):
            raise InvalidParameter(
                f'Error processing tar file: "{"/".join(parts)}" goes through a non-directory'
            ) from e
        raise


def _entry(root_fd: int, tf: tarfile.TarFile, ti: tarfile.TarInfo, parts: tuple[str, ...]) -> None:
    pfd = _open_dir(root_fd, parts[:-1])
    name = parts[-1]
    try:
        remove_existing(pfd, name, keep_dir=ti.isdir())
        if ti.isdir():
            if not os.path.lexists(f"/proc/self/fd/{pfd}/{name}"):
                os.mkdir(name, 0o755, dir_fd=pfd)
        elif ti.issym():
            os.symlink(ti.linkname, name, dir_fd=pfd)
        elif ti.islnk():
            target = _parts(ti.linkname)
            tfd = _open_dir(root_fd, target[:-1])
            try:
                os.link(target[-1], name, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
            finally:
                os.close(tfd)
            return
        else:
            fd = os.open(
                name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=pfd
            )
            with os.fdopen(fd, "wb") as out:
                data = tf.extractfile(ti)
                if data is not None:
                    shutil.copyfileobj(data, out, _CHUNK)
        if not ti.issym():
            os.chmod(name, ti.mode & 0o7777, dir_fd=pfd)
            ns = int(ti.mtime * 1_000_000_000)
            os.utime(name, ns=(ns, ns), dir_fd=pfd)
        os.chown(name, ti.uid, ti.gid, dir_fd=pfd, follow_symlinks=False)
    finally:
        os.close(pfd)


def extract(stream: BinaryIO, dest: Path, limits: Limits = Limits()) -> int:
    """Unpack the context tar into the empty directory `dest`; returns the bytes written."""
    root_fd = os.open(dest, DIR_FLAGS)
    total = entries = 0
    try:
        with tarfile.open(fileobj=stream, mode="r|*", errors="surrogateescape") as tf:
            for ti in tf:
                entries += 1
                total += max(ti.size, 0)
                if total > limits.max_bytes or entries > limits.max_entries:
                    raise InvalidParameter(
                        f"build context too large: more than {limits.max_bytes} bytes"
                        f" or {limits.max_entries} entries"
                    )
                if not (ti.isreg() or ti.isdir() or ti.issym() or ti.islnk()):
                    raise InvalidParameter(
                        f"Error processing tar file: {ti.name!r}: device files and FIFOs are not"
                        " allowed in a build context"
                    )
                parts = _parts(ti.name)
                if parts:
                    _entry(root_fd, tf, ti, parts)
    except tarfile.ReadError as e:
        raise InvalidParameter(f"Error processing tar file(exit status 1): {e}") from None
    except tarfile.TarError as e:
        raise InvalidParameter(f"Error processing tar file(exit status 1): {e}") from None
    except EOFError:
        raise InvalidParameter("Error processing tar file(exit status 1): unexpected EOF") from None
    finally:
        os.close(root_fd)
    return total


def apply_dockerignore(root: Path, keep: set[str]) -> list[ignore.Pattern]:
    """Delete what `.dockerignore` excludes (the Dockerfile and .dockerignore are read first and
    stay as Docker keeps them); returns the patterns."""
    path = root / ".dockerignore"
    if path.is_symlink() or not path.is_file():
        return []
    try:
        patterns = ignore.parse(path.read_text(errors="replace"))
    except ValueError as e:
        raise InvalidParameter(str(e)) from None
    if not patterns:
        return patterns
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        rel_dir = os.path.relpath(dirpath, root)
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if rel not in keep and ignore.excluded(patterns, rel):
                os.unlink(os.path.join(dirpath, name))
        for name in dirnames:
            full = os.path.join(dirpath, name)
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if os.path.islink(full) or not os.path.isdir(full):
                continue
            if ignore.excluded(patterns, rel) and not os.listdir(full):
                os.rmdir(full)
    return patterns
