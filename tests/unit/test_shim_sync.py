"""The shim's sync pipe is read with poll(), not select(): a daemon running some 330 containers
already holds descriptors past 1023, where select() raises (#17, R1: found at container 333 of
bench/scale.py)."""

from __future__ import annotations

import contextlib
import os
import resource
from collections.abc import Iterator

import pytest

from dockyard import errors
from dockyard.runtime.shim import _read_line

HIGH = 1500


@pytest.fixture
def high_pipe() -> Iterator[tuple[int, int]]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= HIGH:
        pytest.fail(f"the open files hard limit ({hard}) leaves no room for fd {HIGH}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, HIGH + 1), hard))
    r, w = os.pipe()
    os.dup2(r, HIGH)
    os.close(r)
    yield HIGH, w
    for fd in (HIGH, w):
        with contextlib.suppress(OSError):
            os.close(fd)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_line_is_read_from_a_descriptor_past_1023(high_pipe: tuple[int, int]) -> None:
    r, w = high_pipe
    os.write(w, b"ok 4242\n")
    assert _read_line(r, timeout=5) == "ok 4242"


def test_silence_times_out_and_eof_says_the_shim_died(high_pipe: tuple[int, int]) -> None:
    r, w = high_pipe
    with pytest.raises(errors.System, match="timed out"):
        _read_line(r, timeout=0.2)
    os.close(w)
    with pytest.raises(errors.System, match="exited without reporting"):
        _read_line(r, timeout=5)
