"""E1: query decoding (Docker bools, ints, filters in both wire forms), Go-worded JSON errors and
Docker's 8-byte multiplexed stream frames."""

from __future__ import annotations

import json

import pytest

from dockyard.api.codec import decode_filters, encode, go_json_error, query_bool, query_int
from dockyard.api.stream import encode_output, frame, parse_frames
from dockyard.errors import InvalidParameter


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("true", True), ("True", True), ("yes", True), ("0", False), ("false", False),
     ("False", False), ("", False), ("no", False), ("none", False)],
)  # fmt: skip
def test_query_bool_follows_docker(raw: str, expected: bool) -> None:
    """E1: Docker's boolValue rules."""
    assert query_bool({"all": raw}, "all") is expected


def test_query_bool_default_and_int() -> None:
    """E1: absent bools take the default; ints reject junk with Go's Atoi wording."""
    assert query_bool({}, "pause", default=True) is True
    assert query_int({"t": "7"}, "t", 10) == 7
    assert query_int({}, "t", 10) == 10
    with pytest.raises(InvalidParameter, match=r'parsing "x": invalid syntax'):
        query_int({"t": "x"}, "t", 10)


def test_filters_list_and_legacy_map_form() -> None:
    """E1: {"k":["v"]} and the pre-1.22 {"k":{"v":true}} decode alike; false entries drop."""
    assert decode_filters(None) == {}
    assert decode_filters(json.dumps({"label": ["a=b", "c"]})) == {"label": ["a=b", "c"]}
    legacy = json.dumps({"status": {"running": True, "paused": True, "exited": False}})
    assert decode_filters(legacy) == {"status": ["running", "paused"]}


def test_filters_errors() -> None:
    """E1: malformed filters are a 400."""
    with pytest.raises(InvalidParameter, match="invalid character 'n' looking for beginning"):
        decode_filters("{nope")
    with pytest.raises(InvalidParameter):
        decode_filters("[1]")


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("xyz", "invalid character 'x' looking for beginning of value"),
        ('{"a":1', "unexpected end of JSON input"),
        ('{"a" 1}', "invalid character '1' after object key"),
        ('{"a":1 "b":2}', "invalid character '\"' after object key:value pair"),
        ("[1 2]", "invalid character '2' after array element"),
        ("{a}", "invalid character 'a' looking for beginning of object key string"),
        ("{} x", "invalid character 'x' after top-level value"),
    ],
)
def test_go_json_error_wording(doc: str, message: str) -> None:
    """E1: decode errors read like Go's encoding/json (clients print them verbatim)."""
    with pytest.raises(json.JSONDecodeError) as info:
        json.loads(doc)
    assert go_json_error(info.value) == message


def test_encode_is_compact_with_newline() -> None:
    """E1: Go's encoder style: compact, one value per line."""
    assert encode({"a": [1, None]}) == b'{"a":[1,null]}\n'


def test_multiplexed_frames() -> None:
    """E1: [stream,0,0,0,len be32] + payload; parsing keeps incomplete tails."""
    assert frame(1, b"hi") == b"\x01\x00\x00\x00\x00\x00\x00\x02hi"
    assert frame(2, b"") == b"\x02\x00\x00\x00\x00\x00\x00\x00"
    big = b"x" * 70000
    assert frame(2, big)[:8] == b"\x02\x00\x00\x00\x00\x01\x11\x70"
    data = frame(1, b"out") + frame(2, b"err") + frame(1, b"partial")[:5]
    frames, rest = parse_frames(data)
    assert frames == [(1, b"out"), (2, b"err")]
    assert rest == frame(1, b"partial")[:5]
    assert encode_output(True, 2, b"raw") == b"raw"
    assert encode_output(False, 2, b"raw") == frame(2, b"raw")
