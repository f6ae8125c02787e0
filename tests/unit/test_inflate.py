"""E5: the pull's gunzip thread gives exactly what gzip would, for text that inflates many
times over (bounded chunks), random data, several gzip members, and a truncated stream."""

from __future__ import annotations

import gzip
import io
import os
import subprocess

import pytest

from dockyard import errors
from dockyard.distribution.inflate import Inflater, opened


def _read_all(stream: Inflater) -> bytes:
    out = bytearray()
    while chunk := stream.read(300_000):
        out += chunk
    stream.close()
    return bytes(out)


@pytest.mark.parametrize("data", [b"".join(b"line %d of text\n" % i for i in range(400_000)),
                                  os.urandom(3 << 20), b""])  # fmt: skip
def test_inflates_as_gzip_does(data: bytes) -> None:
    assert _read_all(Inflater(io.BytesIO(gzip.compress(data)))) == data


def test_several_members_and_plain_streams() -> None:
    two = gzip.compress(b"first ") + gzip.compress(b"second")
    assert _read_all(Inflater(io.BytesIO(two))) == b"first second"
    plain, inflater = opened(io.BytesIO(b"not compressed"))
    assert inflater is None and plain.read() == b"not compressed"


def test_a_truncated_stream_is_an_error() -> None:
    cut = gzip.compress(os.urandom(1 << 20))[:-100]
    with pytest.raises(errors.InvalidParameter, match="unexpected EOF"):
        _read_all(Inflater(io.BytesIO(cut)))


def test_zstd_layers_inflate_on_the_thread_too() -> None:
    """zstd (two frames, as a concatenation of frames is one valid stream) via `opened`."""
    data = b"".join(b"zstd line %d\n" % i for i in range(200_000))
    packed = b"".join(
        subprocess.run(["zstd", "-q", "-c"], input=part, capture_output=True, check=True).stdout
        for part in (data[:1000], data[1000:])
    )
    stream, inflater = opened(io.BytesIO(packed))
    assert isinstance(inflater, Inflater)
    assert _read_all(inflater) == data
