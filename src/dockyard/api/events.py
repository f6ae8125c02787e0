"""GET /events: one JSON object per event, streamed until `until` passes or the client leaves."""

from __future__ import annotations

from aiohttp import web

from dockyard.api.codec import decode_filters, encode, query_time
from dockyard.api.engine import engine
from dockyard.api.stream import close_iterator, start_stream
from dockyard.errors import InvalidParameter


async def events(request: web.Request) -> web.StreamResponse:
    query = request.query
    since = query_time(query, "since")
    until = query_time(query, "until")
    if since is not None and until is not None and until < since:
        raise InvalidParameter("since time must be before until time")
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
