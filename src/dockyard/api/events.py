"""GET /events: one JSON object per event, streamed until `until` passes or the client leaves."""

from __future__ import annotations

from aiohttp import web

from dockyard.api.codec import decode_filters, encode
from dockyard.api.engine import engine
from dockyard.api.stream import close_iterator, start_stream
from dockyard.errors import InvalidParameter, System


def event_time(raw: str) -> float | None:
    """`since`/`until` as dockerd reads them: "SECONDS[.FRACTION]", each part a Go ParseInt (a
    bad one is dockerd's 500 with strconv's words); empty is unset."""
    if raw == "":
        return None
    secs, dot, frac = raw.partition(".")
    for part in (secs, frac) if dot else (secs,):
        body = part[1:] if part[:1] in "+-" else part
        if not body.isascii() or not body.isdigit():
            raise System(f'strconv.ParseInt: parsing "{part}": invalid syntax')
    whole = int(secs)
    nanos = int(int(frac) * 10 ** (9 - len(frac))) if dot else 0
    return whole + nanos / 1e9


async def events(request: web.Request) -> web.StreamResponse:
    query = request.query
    since = event_time(query.get("since", ""))
    until = event_time(query.get("until", ""))
    if until is not None and since is not None and until < since:
        raise InvalidParameter(
            f"`since` time ({query.get('since', '')}) cannot be after "
            f"`until` time ({query.get('until', '')})"
        )
    filters = decode_filters(query.get("filters"))
    subscription = engine(request).events.subscribe(since, until, filters)
    try:
        resp = await start_stream(request, "application/json")
        async for event in subscription:
            await resp.write(encode(event.to_json()))
        await resp.write_eof()
        return resp
    finally:
        await close_iterator(subscription)
