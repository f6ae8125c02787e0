"""The error classes of the engine. The API maps each class to one HTTP status (api/errors.py);
nothing else decides statuses. Messages copy Docker's wording: clients match on it."""

from __future__ import annotations


class DockyardError(Exception):
    """Base class; `status` is the HTTP status the Engine API answers with."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidParameter(DockyardError):
    status = 400


class Unauthorized(DockyardError):
    """401: a registry refused the credentials (or wants some)."""

    status = 401


class Forbidden(DockyardError):
    status = 403


class NotFound(DockyardError):
    status = 404


class Conflict(DockyardError):
    status = 409


class NotModified(DockyardError):
    """304: e.g. starting a started container, stopping a stopped one."""

    status = 304


class Unsupported(DockyardError):
    status = 501


class Unavailable(DockyardError):
    status = 503


class System(DockyardError):
    status = 500


def no_such_container(ref: str) -> NotFound:
    return NotFound(f"No such container: {ref}")


def no_such_image(ref: str) -> NotFound:
    return NotFound(f"No such image: {ref}")


def os_message(exc: OSError) -> str:
    """An OSError as Go prints a *PathError: `path: no space left on device` (lower case, the
    file named), never Python's `[Errno 28] No space left on device: '...'`."""
    text = exc.strerror or str(exc)
    text = text[:1].lower() + text[1:]
    return f"{exc.filename}: {text}" if exc.filename else text


INTERNAL = "internal error: the daemon's log has the details"


class Worded(Exception):
    """An exception below the engine's errors whose text is already in Docker's words (a
    registry transport's `unexpected EOF`): clients are told it as it is."""


def message_of(exc: BaseException) -> str:
    """What a client is told of an error: Docker's words for ours and for the kernel's, and
    never Python's own (a KeyError's key, a TypeError's operands: the log has those)."""
    if isinstance(exc, DockyardError):
        return exc.message
    if isinstance(exc, OSError) and exc.strerror:
        return os_message(exc)
    if isinstance(exc, Worded):
        return str(exc)
    return INTERNAL
