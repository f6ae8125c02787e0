"""The local side of `dockyard cp` (S11): go-archive's CopyInfoSourcePath and
CopyInfoDestinationPath on the host, and TarResource for a local source."""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Iterator

from dockyard.cli import cprules as rules
from dockyard.cli.command import CLIError
from dockyard.storage import copytar as ct


def destination_info(path: str) -> rules.CopyInfo:
    """go-archive's CopyInfoDestinationPath for a local path: a symlink is followed (up to
    10 times); a missing path needs an existing parent directory."""
    original = path
    for _ in range(12):
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            parent, _ = rules.split_path_dir_entry(path)
            pst = os.stat(parent)
            if not stat.S_ISDIR(pst.st_mode):
                raise rules.CopyRuleError(rules.ERR_NOT_DIRECTORY) from None
            return rules.CopyInfo(path)
        except NotADirectoryError:
            return rules.CopyInfo(path)
        if not stat.S_ISLNK(st.st_mode):
            return rules.CopyInfo(path, True, stat.S_ISDIR(st.st_mode))
        path = rules.link_target_path(path, os.readlink(path))
    raise CLIError(f"too many symlinks in {original}")


def source_info(path: str, follow: bool) -> rules.CopyInfo:
    """go-archive's CopyInfoSourcePath: symlinks before the last "/" are resolved; the last
    element only with -L (then the archive keeps the name the user gave)."""
    rebase_to = ""
    if follow:
        resolved, rebase_to = rules.rebase_name(path, eval_symlinks(path))
    else:
        head, base = path[: path.rfind("/") + 1], path[path.rfind("/") + 1 :]
        resolved = eval_symlinks(head or ".").rstrip("/") + "/" + base
        if rules.has_trailing_separator(path) and rules.go_base(path) != rules.go_base(resolved):
            rebase_to = rules.go_base(path)
    st = os.lstat(resolved)
    return rules.CopyInfo(resolved, True, stat.S_ISDIR(st.st_mode), rebase_to)


def eval_symlinks(path: str) -> str:
    try:
        return os.path.realpath(path, strict=True)
    except FileNotFoundError:
        raise CLIError(f"lstat {path.rstrip('/') or '/'}: no such file or directory") from None


def local_tar(src: rules.CopyInfo, top: str) -> Iterator[bytes]:
    """TarResource of a local path, its top entry named `top`."""
    seen: dict[tuple[int, int], str] = {}
    path = src.path

    def one(p: str, name: str) -> Iterator[bytes]:
        st = os.lstat(p)
        link = os.readlink(p) if stat.S_ISLNK(st.st_mode) else ""
        key = (st.st_dev, st.st_ino)
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1 and key in seen:
            ti = ct.header(name, st)
            assert ti is not None
            ti.type, ti.size, ti.linkname = b"1", 0, seen[key]
            yield ct.encode(ti)
            return
        ti = ct.header(name, st, link)
        if ti is None:
            return
        yield ct.encode(ti)
        if stat.S_ISREG(st.st_mode):
            if st.st_nlink > 1:
                seen[key] = name
            yield from ct.file_blocks(os.open(p, os.O_RDONLY | os.O_NOFOLLOW), st.st_size)
        elif stat.S_ISDIR(st.st_mode):
            for child in sorted(os.listdir(p)):
                yield from one(os.path.join(p, child), posixpath.join(name, child))

    yield from one(path, top)
    yield ct.end_of_archive()


def content_size(path: str) -> int:
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        return st.st_size if stat.S_ISREG(st.st_mode) else 0
    total = 0
    for root, _, names in os.walk(path):
        for n in names:
            fst = os.lstat(os.path.join(root, n))
            total += fst.st_size if stat.S_ISREG(fst.st_mode) else 0
    return total
