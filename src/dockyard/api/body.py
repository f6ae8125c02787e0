"""A request's JSON body, as dockerd takes one before a handler sees it: `CheckForJSON` (a body
must come as `application/json`), a bounded read (JSON bodies are small; archives, build contexts
and image tars stream elsewhere and never come here), then decoded and checked against a typed
model of the Engine API (api/gojson.py, api/models.py). Handlers call `read_body(request, Model)`
and get the plain dict the services take, or None when there is no body.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from dockyard.api.gojson import decode
from dockyard.api.models import Model
from dockyard.core.types import Json
from dockyard.errors import DockyardError, InvalidParameter

MAX_BODY = 8 * 1024 * 1024  # a create body with every field set is a few KiB
_READ = 64 * 1024


class BodyTooLarge(DockyardError):
    status = 413


async def read_body(
    request: web.Request, model: type[Model], json_only: bool = True
) -> Json | None:
    """The request's JSON object checked against `model`, or None when there is no body.
    `json_only=False` for the few routes dockerd reads without CheckForJSON (/auth, swarm).
    `request` may also be api/lean.py's LeanRequest (a small body, read already)."""
    headers = request.headers
    if json_only:
        check_content_type(headers.get("Content-Type", ""), _has_body(headers))
    raw = await _read_bounded(request)
    return decode(raw, model)


# -- Content-Type ---------------------------------------------------------------------------

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_PARAM = re.compile(rf'\s*({_TOKEN})\s*=\s*({_TOKEN}|"(?:[^"\\]|\\.)*")\s*')
_MEDIA = re.compile(rf"\s*({_TOKEN}/{_TOKEN})\s*")


def check_content_type(value: str, has_body: bool) -> None:
    """dockerd's CheckForJSON: no Content-Type is fine only without a body; otherwise it must be
    application/json (any case, parameters allowed) and parse as a media type."""
    if value == "" and not has_body:
        return
    if media_type(value) != "application/json":
        raise InvalidParameter(f"Content-Type specified ({value}) must be 'application/json'")


def media_type(value: str) -> str | None:
    """Go's mime.ParseMediaType, as far as it decides a type: the lower-cased type, or None
    when the value does not parse."""
    head, sep, params = value.partition(";")
    m = _MEDIA.fullmatch(head)
    if m is None:
        return None
    rest = sep + params
    while rest.strip():
        if rest.strip() == ";":  # one trailing semicolon is ignored
            break
        if not rest.startswith(";"):
            return None
        m2 = _PARAM.match(rest, 1)
        if m2 is None:
            return None
        rest = rest[m2.end() :]
    return m.group(1).lower()


def _has_body(headers: Any) -> bool:
    if "Transfer-Encoding" in headers:
        return True
    length = headers.get("Content-Length", "")
    return bool(length) and length != "0"


async def _read_bounded(request: web.Request) -> bytes:
    length = request.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > MAX_BODY:
        raise too_large()
    content = getattr(request, "content", None)
    if content is None:  # api/lean.py: the (small) body is read already
        raw: bytes = await request.read()
        if len(raw) > MAX_BODY:
            raise too_large()
        return raw
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await content.read(_READ)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_BODY:
            raise too_large()
        chunks.append(chunk)


def too_large() -> BodyTooLarge:
    return BodyTooLarge(f"request body is too large: the limit for a JSON body is {MAX_BODY >> 20} MiB")  # fmt: skip
