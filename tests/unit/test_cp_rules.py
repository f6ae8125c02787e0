"""docker-cli's cp rules and the archive helpers, pure (S11): Go path semantics, CONTAINER:PATH
splitting, PrepareArchiveCopy's table, the stat header's Go FileMode and time, symlink breakout."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from dockyard.cli import cprules as r
from dockyard.core.timefmt import rfc3339nano as go_time
from dockyard.errors import InvalidParameter
from dockyard.services.containers.archive import abs_path, go_base
from dockyard.services.containers.view import split
from dockyard.storage import copyarchive as ca
from dockyard.storage import copytar as ct
from dockyard.storage.beneath import open_below


@pytest.mark.parametrize(
    ("arg", "want"),
    [
        ("ctr:/a", ("ctr", "/a")),
        ("ctr:", ("ctr", "")),
        ("/abs:name", ("", "/abs:name")),
        ("./rel:name", ("", "./rel:name")),
        ("plain", ("", "plain")),
        ("-", ("", "-")),
        ("c:a:b", ("c", "a:b")),
    ],
)
def test_split_cp_arg(arg: str, want: tuple[str, str]) -> None:
    """S11: a local path with ":" must be explicit ("/" or "./"), like scp."""
    assert r.split_cp_arg(arg) == want


@pytest.mark.parametrize(
    ("path", "clean", "base", "dir_"),
    [
        ("", ".", ".", "."),
        ("/", "/", "/", "/"),
        ("//a//b/", "/a/b", "b", "/a/b"),  # Go: Dir keeps all before the last "/"
        ("a/../..", "..", "..", "."),
        ("/a/.", "/a", ".", "/a"),
        ("a", "a", "a", "."),
    ],
)
def test_go_path_functions(path: str, clean: str, base: str, dir_: str) -> None:
    assert r.go_clean(path) == clean
    assert r.go_base(path) == base == go_base(path)
    assert r.go_dir(path) == dir_


@pytest.mark.parametrize(
    ("cleaned", "original", "want"),
    [
        ("/a", "a/", "/a/"),
        ("/a", "a/.", "/a/."),
        ("/", "/.", "/."),
        ("/a", "a", "/a"),
        ("/", "/", "/"),
    ],
)
def test_preserve_trailing_dot_or_separator(cleaned: str, original: str, want: str) -> None:
    assert r.preserve_trailing(cleaned, original) == want


@pytest.mark.parametrize(
    ("path", "want"),
    [("/a/b", ("/a", "b")), ("/a/b/", ("/a", "b")), ("/a/.", ("/a", ".")), ("/", ("/", "/"))],
)
def test_split_path_dir_entry(path: str, want: tuple[str, str]) -> None:
    assert r.split_path_dir_entry(path) == want


F, D = False, True
# (src path, src is dir, src rebase, dst path, dst exists, dst is dir) -> (dir, old, new) or error
PREPARE = [
    ("/s/f", F, "", "/d/x", D, D, ("/d/x", "", "")),  # 1. into an existing dir
    ("/s/dir", D, "", "/d/file", D, F, r.ERR_CANNOT_COPY_DIR),  # 2. dir over a file
    ("/s/f", F, "", "/d/file", D, F, ("/d", "f", "file")),  # 3. file over a file: renamed
    ("/s/dir", D, "", "/d/new", F, F, ("/d", "dir", "new")),  # 4. dir to a new name
    ("/s/dir/.", D, "", "/d/new", F, F, ("/d", ".", "new")),  # 4. contents to a new name
    ("/s/f", F, "", "/d/new/", F, F, r.ERR_DIR_NOT_EXISTS),  # 5. "dir/" missing, file src
    ("/s/f", F, "", "/d/new/.", F, F, r.ERR_DIR_NOT_EXISTS),  # 5. "dir/." missing
    ("/s/f", F, "", "/d/new", F, F, ("/d", "f", "new")),  # 6. a new file
    ("/s/etc", D, "l", "/d/new", F, F, ("/d", "l", "new")),  # rebased source (-L, trailing /)
    ("/s/dir", D, "", "/d/new/", F, F, ("/d", "dir", "new")),  # a dir may create "new/"
]


@pytest.mark.parametrize(("src", "sdir", "rebase", "dst", "exists", "ddir", "want"), PREPARE)
def test_prepare_archive_copy(
    src: str, sdir: bool, rebase: str, dst: str, exists: bool, ddir: bool, want: object
) -> None:
    """S11: go-archive's PrepareArchiveCopy, every case (REFERENCE §3.6)."""
    s_info = r.CopyInfo(src, True, sdir, rebase)
    d_info = r.CopyInfo(dst, exists, ddir)
    if isinstance(want, str):
        with pytest.raises(r.CopyRuleError, match=want):
            r.prepare_archive_copy(s_info, d_info)
    else:
        p = r.prepare_archive_copy(s_info, d_info)
        assert (p.directory, p.old, p.new) == want


@pytest.mark.parametrize(
    ("name", "old", "new", "want"),
    [
        ("f", "f", "x", "x"),
        ("d/a", "d", "n", "n/a"),
        ("./a", ".", "n", "n/a"),
        ("/bin", "/", "o", "o/bin"),
    ],
)
def test_rebase(name: str, old: str, new: str, want: str) -> None:
    assert r.rebase(name, old, new) == want


@pytest.mark.parametrize(
    ("path", "resolved", "want"),
    [
        ("/a/l", "/etc", ("/etc", "l")),
        ("/a/l/", "/etc", ("/etc/", "l")),
        ("/a/l/.", "/etc", ("/etc/.", "")),
        ("/a/f", "/a/f", ("/a/f", "")),
    ],
)
def test_rebase_name_after_following_a_link(
    path: str, resolved: str, want: tuple[str, str]
) -> None:
    assert r.rebase_name(path, resolved) == want


def test_link_target_path() -> None:
    assert r.link_target_path("/d/rl", "f") == "/d/f"
    assert r.link_target_path("/d/rl", "../x") == "/x"
    assert r.link_target_path("/d/rl", "/abs") == "/abs"


@pytest.mark.parametrize(
    ("path", "want"),
    [("x", "/x"), ("/a/../..", "/"), ("a/", "/a/"), ("a/.", "/a/."), (".", "/."), ("//a", "/a")],
)
def test_abs_path_keeps_trailing_dot_and_slash(path: str, want: str) -> None:
    assert abs_path(path) == want


def test_split_never_climbs_above_root() -> None:
    assert split("/../../etc/./x/..") == ("etc",)


@pytest.mark.parametrize(
    ("st_mode", "want"),
    [
        (stat.S_IFDIR | 0o755, (1 << 31) | 0o755),
        (stat.S_IFLNK | 0o777, (1 << 27) | 0o777),
        (stat.S_IFREG | 0o4755, (1 << 23) | 0o755),
        (stat.S_IFCHR | 0o666, (1 << 26) | (1 << 21) | 0o666),
        (stat.S_IFIFO | 0o600, (1 << 25) | 0o600),
        (stat.S_IFDIR | 0o1777, (1 << 31) | (1 << 20) | 0o777),
    ],
)
def test_go_file_mode(st_mode: int, want: int) -> None:
    """S11: the stat header's mode is a Go os.FileMode, as the docker CLI decodes it."""
    assert ct.go_file_mode(st_mode) == want


def test_go_time_is_rfc3339nano_utc() -> None:
    assert go_time(1_700_000_000_591_448_614) == "2023-11-14T22:13:20.591448614Z"
    assert go_time(1_700_000_000_500_000_000) == "2023-11-14T22:13:20.5Z"
    assert go_time(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"


def _tar(*members: tuple[str, bytes, str]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, kind, link in members:
            ti = tarfile.TarInfo(name)
            ti.type, ti.linkname = kind, link
            tf.addfile(ti, io.BytesIO(b"") if kind == tarfile.REGTYPE else None)
    buf.seek(0)
    return buf


def _extract(root: Path, data: io.BytesIO, **kw: object) -> int:
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        opts = ca.ExtractOptions(lchown=False, root_name=str(root), **kw)  # type: ignore[arg-type]
        return ca.extract(data, lambda parts, create: open_below(fd, parts, create), opts)
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ((("a/../../x", tarfile.REGTYPE, ""),), "invalid path"),
        ((("l", tarfile.SYMTYPE, "../x"),), 'invalid symlink ".*/l" -> "../x"'),
        ((("d/l", tarfile.SYMTYPE, "../../x"),), "invalid symlink"),
        ((("l", tarfile.SYMTYPE, "/"), ("l/x", tarfile.REGTYPE, "")), "symlink or non-directory"),
    ],
)
def test_extract_refuses_escapes(
    tmp_path: Path, members: tuple[tuple[str, bytes, str], ...], message: str
) -> None:
    """S11 escape: `..`, breakout symlinks, and writing through a symlink the tar planted."""
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(InvalidParameter, match=message):
        _extract(root, _tar(*members))
    assert sorted(os.listdir(tmp_path)) == ["root"]


def test_extract_keeps_absolute_and_inner_symlinks(tmp_path: Path) -> None:
    n = _extract(tmp_path, _tar(("d/l", tarfile.SYMTYPE, "/etc"), ("d/r", tarfile.SYMTYPE, "../d")))
    assert n == 2 and os.readlink(tmp_path / "d" / "l") == "/etc"


def test_extract_no_overwrite_dir_non_dir(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_text("x")
    with pytest.raises(
        InvalidParameter, match='cannot overwrite directory ".*/d" with non-directory "d"'
    ):
        _extract(tmp_path, _tar(("d", tarfile.REGTYPE, "")), no_overwrite_dir_non_dir=True)
    with pytest.raises(InvalidParameter, match="cannot overwrite non-directory"):
        _extract(tmp_path, _tar(("f", tarfile.DIRTYPE, "")), no_overwrite_dir_non_dir=True)
    _extract(tmp_path, _tar(("d", tarfile.REGTYPE, "")))  # allowed without the flag
    assert (tmp_path / "d").is_file()
