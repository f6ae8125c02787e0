"""When a failed layer download is tried again, and how (E5), as dockerd 20.10 decides: a broken
connection, a short body or a 5xx is retried, up to `--max-download-attempts` retries (20.10
counts them after the first attempt), after a countdown of 5 s times the number of failures so
far, said each second as `Retrying in N seconds`. Not retried: a missing blob (404), a refusal
(401, 403, 429, an unknown name), a 4xx without an error code, a digest mismatch and any other
verdict of ours. The next attempt asks for the rest only (`Range: bytes=N-`, N what the spool
holds)."""

from __future__ import annotations

import re

from dockyard import errors
from dockyard.distribution.client import RegistryError, TransportError

BASE_DELAY = 5  # seconds, times the failures so far
# Registry error codes dockerd gives up on at once (retryOnError's list).
FINAL_CODES = frozenset(
    {"UNAUTHORIZED", "UNSUPPORTED", "DENIED", "TOOMANYREQUESTS", "NAME_UNKNOWN"}
)
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


def byte_range(offset: int) -> str:
    """The Range header asking for a blob from byte `offset` to its end."""
    return f"bytes={offset}-"


def range_start(content_range: str, offset: int) -> None:
    """Check a 206's Content-Range starts where it was asked to (a TransportError if not:
    dockerd retries that too)."""
    if not content_range:
        raise TransportError("no Content-Range header found in HTTP 206 response")
    found = _CONTENT_RANGE.match(content_range.strip())
    if found is None:
        raise TransportError(f"could not parse Content-Range header: {content_range}")
    if int(found[1]) != offset:
        raise TransportError(
            f"received Content-Range starting at offset {found[1]} instead of requested {offset}"
        )


def retryable(e: BaseException) -> bool:
    """Is this download failure worth another attempt?"""
    if isinstance(e, TransportError):
        return True
    cause = e.__cause__
    if isinstance(e, errors.DockyardError) and isinstance(cause, RegistryError):
        if cause.status == 404:
            return False  # the blob is unknown
        if 400 <= cause.status < 500:
            return bool(cause.code) and cause.code not in FINAL_CODES
        return True  # 5xx, or a status no client expects
    return False


def countdown(failures: int) -> list[str]:
    """What the layer's line says, one message a second, before the next attempt."""
    return [
        f"Retrying in {n} second{'' if n == 1 else 's'}"
        for n in range(BASE_DELAY * failures, 0, -1)
    ]
