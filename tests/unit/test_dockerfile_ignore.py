"""`.dockerignore` matching with moby/patternmatcher's rules (MISSION S1)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from dockyard.dockerfile import context, ignore
from dockyard.errors import InvalidParameter


@pytest.mark.parametrize(
    ("patterns", "path", "excluded"),
    [
        ("*.log", "a.log", True),
        ("*.log", "dir/a.log", False),
        ("**/*.log", "dir/sub/a.log", True),
        ("**/*.log", "a.log", True),
        ("dir", "dir/sub/file", True),
        ("/dir/*.txt", "dir/a.txt", True),
        ("*.log\n!keep.log", "keep.log", False),
        ("*.log\n!keep.log\nkeep.log", "keep.log", True),
        ("a?c", "abc", True),
        ("a?c", "a/c", False),
        ("# comment\n\nx", "x", True),
        ("[ab].txt", "b.txt", True),
    ],
)
def test_excluded(patterns: str, path: str, excluded: bool) -> None:
    assert ignore.excluded(ignore.parse(patterns), path) is excluded


def _tar(entries: list[tarfile.TarInfo], data: bytes = b"x") -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for ti in entries:
            if ti.isreg():
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
            else:
                tf.addfile(ti)
    buf.seek(0)
    return buf


def test_context_refuses_escapes_and_devices(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="outside of the build context"):
        context.extract(_tar([tarfile.TarInfo("../x")]), tmp_path)
    link = tarfile.TarInfo("l")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc"
    (tmp_path / "x").mkdir()
    with pytest.raises(InvalidParameter, match="non-directory"):
        context.extract(_tar([link, tarfile.TarInfo("l/passwd")]), tmp_path / "x")
    dev = tarfile.TarInfo("null")
    dev.type = tarfile.CHRTYPE
    (tmp_path / "y").mkdir()
    with pytest.raises(InvalidParameter, match="device"):
        context.extract(_tar([dev]), tmp_path / "y")
    (tmp_path / "z").mkdir()
    context.extract(_tar([tarfile.TarInfo("/abs/f")]), tmp_path / "z")
    assert (tmp_path / "z" / "abs" / "f").read_bytes() == b"x"
    (tmp_path / "big").mkdir()
    with pytest.raises(InvalidParameter, match="too large"):
        context.extract(
            _tar([tarfile.TarInfo("f")], b"x" * 100), tmp_path / "big", context.Limits(max_bytes=10)
        )


def test_dockerignore_applied(tmp_path: Path) -> None:
    for rel in ("a.log", "keep.log", "d/b.log", "d/ok", "Dockerfile"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    (tmp_path / ".dockerignore").write_text("**/*.log\n!keep.log\nDockerfile\n")
    context.apply_dockerignore(tmp_path, {"Dockerfile", ".dockerignore"})
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert left == [".dockerignore", "Dockerfile", "d/ok", "keep.log"]
