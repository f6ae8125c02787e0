"""Detach keys (#16, E1): Docker's key list parsing and the escape matcher on stdin."""

from __future__ import annotations

import pytest

from dockyard.core.detachkeys import DEFAULT, EscapeMatcher, parse


def test_parse_docker_key_lists() -> None:
    assert parse("ctrl-p,ctrl-q") == DEFAULT == b"\x10\x11"
    assert parse("ctrl-@,ctrl-a,ctrl-z,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_") == bytes(
        [0, 1, 26, 27, 28, 29, 30, 31]
    )
    assert parse("a,DEL,ctrl-x") == b"a\x7f\x18"


@pytest.mark.parametrize("bad", ["ctrl-P", "ctrl-", "ctrl-1", "del", "ab", "é", "a,,b"])
def test_parse_refuses_what_moby_refuses(bad: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse(bad)
    assert str(exc.value).startswith("Unknown character: '")


def test_matcher_detaches_and_passes_the_rest_on() -> None:
    m = EscapeMatcher(DEFAULT)
    assert m.feed(b"ab\x10") == (b"ab", False)  # a possible start is held back
    assert m.feed(b"\x11tail") == (b"", True)  # complete across two reads
    m = EscapeMatcher(DEFAULT)
    assert m.feed(b"\x10x") == (b"\x10x", False)  # a failed match gives the held byte back
    assert m.feed(b"\x10\x10\x11") == (b"\x10", True)  # a repeated first key restarts it
    assert EscapeMatcher(b"\x18").feed(b"hi\x18") == (b"hi", True)
    assert EscapeMatcher(b"").keys == DEFAULT
