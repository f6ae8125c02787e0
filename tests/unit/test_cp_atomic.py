"""S11, R1 (#17): a refused archive PUT changes nothing: what the extraction created before the
refused entry is removed, what it replaced is put back (copyarchive.Journal)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from dockyard.errors import InvalidParameter
from dockyard.storage import copyarchive as ca
from dockyard.storage.beneath import open_below


def _tar(*members: tuple[str, str, bytes | str]) -> io.BytesIO:
    """(name, kind: f file, d dir, l symlink, h hardlink; data or link target)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, payload in members:
            ti = tarfile.TarInfo(name)
            ti.mode = 0o644
            if kind == "f":
                assert isinstance(payload, bytes)
                ti.size = len(payload)
                tf.addfile(ti, io.BytesIO(payload))
                continue
            ti.type = {"d": tarfile.DIRTYPE, "l": tarfile.SYMTYPE, "h": tarfile.LNKTYPE}[kind]
            ti.linkname = str(payload)
            tf.addfile(ti)
    buf.seek(0)
    return buf


def _snapshot(root: Path) -> dict[str, tuple[int, bytes | str | None]]:
    out: dict[str, tuple[int, bytes | str | None]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            st = p.lstat()
            if p.is_symlink():
                content: bytes | str | None = os.readlink(p)
            elif p.is_file():
                content = p.read_bytes()
            else:
                content = None
            out[str(p.relative_to(root))] = (st.st_mode, content)
    return out


def _extract(root: Path, data: io.BytesIO, atomic: bool = True, **kw: object) -> int:
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        opts = ca.ExtractOptions(lchown=False, root_name="/", **kw)  # type: ignore[arg-type]
        return ca.extract(data, lambda p, c: open_below(fd, p, c), opts, atomic=atomic)
    finally:
        os.close(fd)


def _tree(root: Path) -> None:
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hosts").write_bytes(b"old hosts")
    (root / "data").mkdir()
    (root / "data" / "keep").write_bytes(b"keep")
    (root / "link").symlink_to("etc")


BAD_TARS = {
    # the case: a symlink is planted, then an entry is written through it
    "through planted symlink": _tar(("evil", "l", "/"), ("evil/x", "f", b"x")),
    "breakout after files": _tar(("new", "d", ""), ("new/a", "f", b"a"), ("etc/hosts", "f", b"new"),
                                 ("new/l", "l", "../../x")),
    "escape after replacing": _tar(("data/keep", "f", b"changed"), ("data", "l", "x"),
                                   ("deep/er/f", "f", b"1"), ("../x", "f", b"")),
    "no overwrite dir": _tar(("made/f", "f", b"1"), ("link", "l", "elsewhere"), ("etc", "f", b"")),
    "bad hardlink": _tar(("a", "f", b"1"), ("etc/hosts", "f", b"2"), ("b", "h", "nosuch")),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(BAD_TARS))
def test_refused_archive_changes_nothing(tmp_path: Path, name: str) -> None:
    """R1: whatever the refusal, the tree is byte for byte what it was."""
    root = tmp_path / "root"
    _tree(root)
    before = _snapshot(root)
    data = BAD_TARS[name]
    with pytest.raises((InvalidParameter, OSError)):
        _extract(root, data, no_overwrite_dir_non_dir=True)
    assert _snapshot(root) == before


def test_without_journal_the_planted_symlink_stays(tmp_path: Path) -> None:
    """The case the journal exists for (the test above is not vacuous): unjournaled extraction
    leaves the planted symlink behind."""
    root = tmp_path / "root"
    _tree(root)
    with pytest.raises(InvalidParameter):
        _extract(root, _tar(("evil", "l", "/"), ("evil/x", "f", b"x")), atomic=False)
    assert (root / "evil").is_symlink()


def test_accepted_archive_replaces_and_leaves_no_temp_names(tmp_path: Path) -> None:
    """S11: on success replaced entries are gone (not kept under a temp name)."""
    root = tmp_path / "root"
    _tree(root)
    data = _tar(("etc/hosts", "f", b"new"), ("data", "f", b"was a dir"), ("n/m/o", "f", b"deep"),
                ("link", "l", "data"))  # fmt: skip
    _extract(root, data)
    assert (root / "etc" / "hosts").read_bytes() == b"new"
    assert (root / "data").read_bytes() == b"was a dir"
    assert (root / "n" / "m" / "o").read_bytes() == b"deep"
    assert os.readlink(root / "link") == "data"
    leftovers = [p for p in root.rglob("*") if p.name.startswith(".dockyard-cp-")]
    assert leftovers == []


def test_the_openers_own_checks_still_run_for_existing_directories(tmp_path: Path) -> None:
    """S11: the journal never opens a directory to write into without the opener's `create`
    (where a container's opener refuses a read-only mount), even when it exists already."""
    root = tmp_path / "root"
    _tree(root)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)

    def opener(parts: tuple[str, ...], create: bool) -> int:
        if create and parts[:1] == ("data",):
            raise InvalidParameter("mounted volume is marked read-only")
        return open_below(fd, parts, create)

    try:
        with pytest.raises(InvalidParameter, match="read-only"):
            ca.extract(_tar(("new", "f", b"1"), ("data/f", "f", b"x")), opener,
                       ca.ExtractOptions(lchown=False), atomic=True)  # fmt: skip
    finally:
        os.close(fd)
    assert not (root / "new").exists() and not (root / "data" / "f").exists()
