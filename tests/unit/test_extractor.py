"""The PUT /archive extractor child (S11): the spec + tar protocol on its stdin, errors raised
in the daemon, and the spare started ahead of need."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.services.containers import extractor
from dockyard.services.containers.view import ContainerView
from dockyard.storage import copyarchive as ca


def _tar(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in entries.items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.uid, ti.gid, ti.mode = len(data), os.getuid(), os.getgid(), 0o640
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def _spec(root: Path) -> str:
    view = ContainerView(str(root), True, [])
    return extractor.spec(view, ("dst",), ca.ExtractOptions(root_name="/dst"))


def test_a_job_extracts_what_is_fed(tmp_path: Path) -> None:
    (tmp_path / "dst").mkdir()
    pool = extractor.Extractors()
    try:
        job = pool.take()
        job.send_spec(_spec(tmp_path))
        job.feed(io.BytesIO(_tar({"a/f": b"x" * 100_000, "g": b"hi"})))
        job.wait()
        assert (tmp_path / "dst" / "a" / "f").read_bytes() == b"x" * 100_000
        assert (tmp_path / "dst" / "g").stat().st_mode & 0o777 == 0o640
    finally:
        pool.close()


def test_the_childs_error_is_raised_in_the_daemon(tmp_path: Path) -> None:
    (tmp_path / "dst").mkdir()
    pool = extractor.Extractors()
    pool.close()  # no spare: this test's child is the only one
    job = pool.take()
    job.send_spec(_spec(tmp_path))
    job.feed(io.BytesIO(_tar({"../escape": b"no"})))
    with pytest.raises(errors.InvalidParameter, match="path escapes the extraction root"):
        job.wait()
    assert not (tmp_path / "escape").exists()


def test_an_unused_spare_exits_quietly_at_eof() -> None:
    job = extractor.Job()
    job.close_input()
    job.wait()  # EOF before any spec: exit 0, nothing raised
    assert job.proc.returncode == 0
