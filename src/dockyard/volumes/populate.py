"""The populate rule (S8): at create, an empty volume mounted where the image has a directory
receives a copy of it (an empty directory gives only its owner, mode and times, as moby's
fs.CopyDir does). Owner, mode, timestamps, xattrs, symlinks (as links), hard links
(as links), device nodes and fifos are kept, like moby's fs.CopyDir; the volume directory itself
takes the image directory's owner and mode. Nothing outside the container's root is read: the
image path is resolved with its symlinks scoped to the root."""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import stat
from pathlib import Path

from dockyard.crashpoints import crashpoint
from dockyard.storage import beneath

# The copy is made under this name beside the volumes (same filesystem), then renamed in: a
# daemon killed midway leaves it there (the driver removes it at start), never a volume that
# holds part of the image's directory and so would never be populated again.
TEMP_PREFIX = ".populate-"

MAX_LINKS = 40


def scoped(root: Path, path: str) -> Path | None:
    """`path` inside `root`, following symlinks as if `root` were `/`; None if it is missing."""
    try:
        found = beneath.in_scope(root, path, MAX_LINKS)
    except OSError:
        return None
    return found if os.path.lexists(found) else None


def source_dir(rootfs: Path, destination: str) -> Path | None:
    """The image directory to copy from, or None when the rule does not apply (missing or not a
    directory)."""
    src = scoped(rootfs, destination)
    if src is None or not src.is_dir() or src.is_symlink():
        return None
    return src


def _copy_xattrs(src: str, dst: str) -> None:
    try:
        names = os.listxattr(src, follow_symlinks=False)
    except OSError:
        return
    for name in names:
        try:
            os.setxattr(
                dst, name, os.getxattr(src, name, follow_symlinks=False), follow_symlinks=False
            )
        except OSError as e:  # unsupported on the volume's filesystem: skipped, as moby does
            if e.errno not in (errno.ENOTSUP, errno.EPERM, errno.EOPNOTSUPP):
                raise


def _copy_meta(src: str, dst: str, st: os.stat_result) -> None:
    os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)
    _copy_xattrs(src, dst)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(dst, stat.S_IMODE(st.st_mode))  # after chown, which clears setuid bits
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _copy_file(src: str, dst: str) -> None:
    with open(src, "rb") as fi, open(dst, "xb") as fo:
        size = os.fstat(fi.fileno()).st_size
        sent = 0
        while sent < size:
            # sendfile, not copy_file_range: the latter fails with EXDEV from overlayfs.
            n = os.sendfile(fo.fileno(), fi.fileno(), None, size - sent)
            if n == 0:
                break
            sent += n


def copy_tree(src: Path, dst: Path) -> None:
    """Copy the contents of `src` into the existing, empty `dst`."""
    links: dict[tuple[int, int], str] = {}
    dirs: list[tuple[str, str, os.stat_result]] = []
    for dirpath, dirnames, filenames in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        out_dir = str(dst) if rel == "." else os.path.join(dst, rel)
        for name in dirnames + filenames:
            s, d = os.path.join(dirpath, name), os.path.join(out_dir, name)
            st = os.lstat(s)
            mode = st.st_mode
            if stat.S_ISDIR(mode):
                os.mkdir(d, 0o700)
                dirs.append((s, d, st))  # metadata after the contents, or mtimes change
                continue
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in links:
                os.link(links[key], d)
                continue
            if stat.S_ISLNK(mode):
                os.symlink(os.readlink(s), d)
            elif stat.S_ISREG(mode):
                _copy_file(s, d)
            elif stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                os.mknod(d, mode, st.st_rdev)
            else:
                continue  # sockets are not copied
            if st.st_nlink > 1:
                links[key] = d
            _copy_meta(s, d, st)
    for s, d, st in reversed(dirs):
        _copy_meta(s, d, st)
    _copy_meta(str(src), str(dst), os.lstat(src))


def populate(rootfs: Path, destination: str, volume_dir: Path) -> bool:
    """Apply the rule; True when the volume took the image directory's contents and metadata.
    The volume directory keeps its inode (a running container may have it mounted): the copy's
    top-level entries are renamed into it, then its own metadata is set."""
    src = source_dir(rootfs, destination)
    if src is None:
        return False
    with os.scandir(volume_dir) as it:
        if next(it, None) is not None:
            return False  # a non-empty volume is never touched
    temp = volume_dir.parent.parent / f"{TEMP_PREFIX}{secrets.token_hex(8)}"
    os.mkdir(temp, 0o700)
    try:
        copy_tree(src, temp)
        crashpoint("volume.mid-populate")
        with os.scandir(temp) as it:
            for entry in it:
                os.rename(entry.path, volume_dir / entry.name)
        _copy_meta(str(src), str(volume_dir), os.lstat(src))
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return True
