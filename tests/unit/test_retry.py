"""E5 (#13): the pure parts of a layer download's retries (distribution/retry.py): the Range
asked, the Content-Range checked, which failures dockerd 20.10 retries, its countdown, and Go's
words for a body that could not be read to its end."""

from __future__ import annotations

import errno
import http.client
from typing import Any, cast

import pytest

from dockyard import errors
from dockyard.distribution import retry
from dockyard.distribution.client import RegistryError, Response, TransportError


def test_range_header_and_content_range_check() -> None:
    assert retry.byte_range(1500000) == "bytes=1500000-"
    retry.range_start("bytes 1500000-4194303/4194304", 1500000)
    retry.range_start("bytes 7-9/*", 7)
    with pytest.raises(TransportError, match="^received Content-Range starting at offset 0 "
                       "instead of requested 7$"):  # fmt: skip
        retry.range_start("bytes 0-9/10", 7)
    with pytest.raises(TransportError, match="^no Content-Range header found in HTTP 206"):
        retry.range_start("", 7)
    with pytest.raises(TransportError, match="^could not parse Content-Range header: bytes=7-"):
        retry.range_start("bytes=7-", 7)


def _said(status: int, code: str = "") -> errors.DockyardError:
    """An error the way Remote.check raises it: translated, the registry's answer its cause."""
    try:
        raise errors.System("translated") from RegistryError(status, code, "message")
    except errors.System as e:
        return e


@pytest.mark.parametrize(
    ("failure", "again"),
    [
        (TransportError("unexpected EOF"), True),
        (TransportError("read tcp a->b: read: connection reset by peer"), True),
        (_said(500), True),
        (_said(503), True),
        (_said(404), False),  # unknown blob
        (_said(404, "BLOB_UNKNOWN"), False),
        (_said(401, "UNAUTHORIZED"), False),
        (_said(403, "DENIED"), False),
        (_said(429, "TOOMANYREQUESTS"), False),
        (_said(404, "NAME_UNKNOWN"), False),
        (_said(400, "UNSUPPORTED"), False),
        (_said(400), False),  # a 4xx without an error code
        (_said(400, "BLOB_UPLOAD_INVALID"), True),  # another code: dockerd tries again
        (errors.System("filesystem layer verification failed for digest sha256:x"), False),
        (errors.Unauthorized("no token"), False),
        (OSError(errno.ENOSPC, "No space left on device"), False),
    ],
)
def test_which_failures_are_retried(failure: BaseException, again: bool) -> None:
    assert retry.retryable(failure) is again


def test_countdown_is_five_seconds_times_the_failures() -> None:
    assert retry.countdown(1) == [
        "Retrying in 5 seconds",
        "Retrying in 4 seconds",
        "Retrying in 3 seconds",
        "Retrying in 2 seconds",
        "Retrying in 1 second",
    ]
    second = retry.countdown(2)
    assert (len(second), second[0], second[-1]) == (
        10,
        "Retrying in 10 seconds",
        "Retrying in 1 second",
    )


def test_read_errors_in_gos_words() -> None:
    resp = Response(200, cast(Any, None), cast(Any, None), "127.0.0.1:40000", "127.0.0.1:5000")
    assert str(resp.read_error(http.client.IncompleteRead(b"", 10))) == "unexpected EOF"
    assert str(
        resp.read_error(ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"))
    ) == ("read tcp 127.0.0.1:40000->127.0.0.1:5000: read: connection reset by peer")
    assert str(resp.read_error(TimeoutError("timed out"))) == (
        "read tcp 127.0.0.1:40000->127.0.0.1:5000: i/o timeout"
    )
