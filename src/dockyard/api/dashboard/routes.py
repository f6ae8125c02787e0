"""What the dashboard's listener serves, all behind its token (D-dash-1):

- `/TOKEN/` and its static files (api/dashboard/static, shipped as package data);
- `/TOKEN/api/...`: a read-only subset of the Engine API, the same handlers as the socket's,
  GET only and only the listings and inspections the page draws from (no logs, archives,
  exports or attach: nothing that writes, and nothing that reads a container's files);
- `/TOKEN/sse`: the daemon's event stream as server-sent events;
- `/TOKEN/stats`: one CPU/memory sample of every running container in one answer, which the
  page asks for every few seconds while it is visible.

A request whose first path segment is not the token (compared in constant time), or whose Host
is not the listener's own address (a DNS-rebinding page), is a 403 and reaches no handler."""

from __future__ import annotations

import asyncio
import hmac
import json
import warnings
from importlib import resources

from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp.web_urldispatcher import ResourceRoute, UrlMappingMatchInfo

from dockyard.api.engine import engine
from dockyard.api.errors import error_response
from dockyard.api.router import EngineRouter
from dockyard.api.routes import ROUTES, Route
from dockyard.api.stream import close_iterator, start_stream
from dockyard.core.types import Json

# The Engine API routes the page may call: (method, path as api/routes.py registers it).
READ_ONLY = {
    ("GET", "/_ping"),
    ("GET", "/version"),
    ("GET", "/info"),
    ("GET", "/system/df"),
    ("GET", "/events"),
    ("GET", "/containers/json"),
    ("GET", "/containers/{id:.+}/json"),
    ("GET", "/containers/{id}/stats"),
    ("GET", "/containers/{id}/top"),
    ("GET", "/containers/{id}/changes"),
    ("GET", "/images/json"),
    ("GET", "/images/{name:.+}/json"),
    ("GET", "/images/{name:.+}/history"),
    ("GET", "/dockyard/images/{name:.+}/layers"),  # `dockyard image layers` (#18 item 2)
    ("GET", "/networks"),
    ("GET", "/networks/{id}"),
    ("GET", "/volumes"),
    ("GET", "/volumes/{name}"),
    ("GET", "/dockyard/network/graph"),  # `dockyard network graph` (#18 item 3)
}

STATIC = {"index.html": "text/html", "app.js": "text/javascript", "app.css": "text/css"}

# Sent with every answer: no script but the page's own, no framing, no token in a Referer.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def read_only_routes(routes: list[Route] = ROUTES) -> list[Route]:
    return [r for r in routes if (r.method, r.path) in READ_ONLY]


async def _forbidden(request: web.Request) -> web.StreamResponse:
    return error_response(
        403, "forbidden: the dashboard's address has a token (dockyard dashboard)"
    )


async def _read_only(request: web.Request) -> web.StreamResponse:
    return error_response(405, "the dashboard's API is read-only")


async def _add_slash(request: web.Request) -> web.StreamResponse:
    raise web.HTTPMovedPermanently(request.rel_url.path + "/")


class DashboardRouter(EngineRouter):
    """The Engine router's lookup behind the token gate: `resolve` checks the token and the
    Host, strips the token and resolves the rest among the dashboard's own routes."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token.encode()
        self._hosts: set[str] = set()
        self._gate = ResourceRoute("*", _forbidden, web.PlainResource("/_403"))
        self._method = ResourceRoute("*", _read_only, web.PlainResource("/_405"))
        self._slash = ResourceRoute("*", _add_slash, web.PlainResource("/_301"))

    def allow_port(self, port: int) -> None:
        self._hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}

    def _authorized(self, request: web.Request, token: str) -> bool:
        try:
            given = token.encode("ascii")
        except UnicodeEncodeError:
            given = b""
        same = hmac.compare_digest(given, self._token)
        return same and request.host in self._hosts

    async def resolve(self, request: web.Request) -> UrlMappingMatchInfo:
        token, slash, rest = request.rel_url.path_safe[1:].partition("/")
        if not self._authorized(request, token):
            return UrlMappingMatchInfo({}, self._gate)
        if not slash:
            return UrlMappingMatchInfo({}, self._slash)
        if request.method != "GET":
            return UrlMappingMatchInfo({}, self._method)
        found = self.match("GET", "/" + rest)
        if found is None:
            return UrlMappingMatchInfo({}, self._not_found)
        return UrlMappingMatchInfo(found[1], found[0])


def static_handler(name: str) -> Handler:
    """One of the page's files, read from the package once, on first use."""
    content_type = STATIC[name]
    cached: list[bytes] = []

    async def serve(request: web.Request) -> web.StreamResponse:
        if not cached:
            files = resources.files("dockyard.api.dashboard")
            cached.append(files.joinpath("static", name).read_bytes())
        return web.Response(body=cached[0], content_type=content_type, charset="utf-8")

    return serve


async def sse(request: web.Request) -> web.StreamResponse:
    """Events as they happen, one `data:` line each (the Engine API's event JSON)."""
    subscription = engine(request).events.subscribe(None, None, {})
    try:
        resp = await start_stream(request, "text/event-stream")
        await resp.write(b"retry: 2000\n\n")
        async for event in subscription:
            data = json.dumps(event.to_json(), separators=(",", ":"))
            await resp.write(b"data: " + data.encode() + b"\n\n")
        return resp
    finally:
        await close_iterator(subscription)


def _sample(doc: Json) -> Json:
    """What a sparkline needs of a StatsJSON: CPU counters (the page takes the deltas) and
    memory as `docker stats` counts it (usage less the inactive page cache)."""
    cpu = doc.get("cpu_stats") or {}
    mem = doc.get("memory_stats") or {}
    detail = mem.get("stats") or {}
    cache = detail.get("total_inactive_file", detail.get("inactive_file", 0))
    usage = mem.get("usage", 0) or 0
    return {
        "cpu": (cpu.get("cpu_usage") or {}).get("total_usage", 0),
        "system": cpu.get("system_cpu_usage", 0),
        "cpus": cpu.get("online_cpus", 1) or 1,
        "mem": max(usage - (cache or 0), 0),
        "limit": mem.get("limit", 0),
    }


async def stats(request: web.Request) -> web.StreamResponse:
    containers = engine(request).containers
    running = await asyncio.to_thread(containers.list, False, 0, False, {})
    ids = [c["Id"] for c in running]
    docs = await asyncio.gather(
        *(containers.stats_once(i, True) for i in ids), return_exceptions=True
    )
    out = {i: _sample(d) for i, d in zip(ids, docs, strict=True) if isinstance(d, dict)}
    return web.json_response(out)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for key, value in SECURITY_HEADERS.items():
        response.headers.setdefault(key, value)


def build(router: DashboardRouter) -> web.Application:
    for name in STATIC:
        path = "/" if name == "index.html" else f"/{name}"
        router.add("GET", path, static_handler(name))
    router.add("GET", "/sse", sse)
    router.add("GET", "/stats", stats)
    for route in read_only_routes():
        router.add(route.method, "/api" + route.path, route.handler)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # `router=`, as api/server.py
        app = web.Application(router=router)
    app.on_response_prepare.append(_security_headers)
    return app
