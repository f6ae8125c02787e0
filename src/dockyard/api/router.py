"""Route resolution and the per-request frame every handler runs in, without aiohttp middlewares.

Why not aiohttp's own router and middlewares: every docker client sends `/v1.xx/...` paths, and
aiohttp indexes resources by their literal prefix, so a route registered as `/v{version}/...` sits
in the root bucket and every versioned request awaited a regex match against each of ~60 such
routes; two middlewares cost a partial, a wrapper and two coroutine frames more. Here the version
prefix is split off once, exact paths are one dict lookup, and only the few templated paths
(`/containers/{id}/json`) are matched by regex, in registration order. Handlers are wrapped once,
at registration, in `guarded()`: API version negotiation and the one error mapping
(api/errors.py), which used to be the two middlewares.

Lifecycle: `EngineRouter()` is given to `web.Application(router=...)`; `add(method, path, handler)`
registers each route once, unversioned; aiohttp calls `resolve()` for every request.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp.web_urldispatcher import ResourceRoute, UrlMappingMatchInfo

from dockyard.api.engine import API_VERSION
from dockyard.api.errors import STARTED, error_response, response_for
from dockyard.config import API_VERSION as MAX_VERSION
from dockyard.config import MIN_API_VERSION
from dockyard.errors import DockyardError, InvalidParameter

log = logging.getLogger("dockyard.api.errors")

# a small route's synchronous answer from what is kept (routes.py Route.at_once): JSON, or None
AtOnce = Callable[[web.Request], bytes | None]

_VERSIONED = re.compile(r"/v([0-9][0-9.]*)(/.*)")
_PARAM = re.compile(r"\{(\w+)(?::((?:[^{}]|\{[^{}]*\})*))?\}")


def parse_version(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    try:
        return int(major), int(minor or 0)
    except ValueError:
        raise InvalidParameter(f"invalid API version: {text}") from None


_MAX = parse_version(MAX_VERSION)
_MIN = parse_version(MIN_API_VERSION)


def negotiate(asked: str | None) -> tuple[int, int]:
    """The version a `/v1.xx/` prefix asks for, refused outside [min, max] in dockerd's words."""
    if asked is None:
        return _MAX
    version = parse_version(asked)
    if version > _MAX:
        raise InvalidParameter(
            f"client version {asked} is too new. Maximum supported API version is {MAX_VERSION}"
        )
    if version < _MIN:
        raise InvalidParameter(
            f"client version {asked} is too old. Minimum supported API version is "
            f"{MIN_API_VERSION}, please upgrade your client to a newer version"
        )
    return version


def guarded(handler: Handler) -> Handler:
    """`handler` with the API version negotiated first and every error answered as Docker does:
    `{"message": ...}` with the error class's status; once a stream's headers are out, the
    error can only cut the stream (api/errors.py: mark_started)."""

    async def serve(request: web.Request) -> web.StreamResponse:
        try:
            request[API_VERSION] = negotiate(request.match_info.get("version"))
            return await handler(request)
        except (DockyardError, web.HTTPException) as exc:
            if request.get(STARTED, False):
                # Headers are out already: the stream can only end; the client sees it cut short.
                log.info("%s %s failed mid-stream: %s", request.method, request.path, exc)
                raise
            return response_for(exc)
        except ConnectionError:
            raise
        except Exception as exc:
            if request.get(STARTED, False):
                log.error("%s %s failed mid-stream", request.method, request.path, exc_info=exc)
                raise
            return response_for(exc)

    return serve


def _unquote(value: str) -> str:
    return value.replace("%2F", "/").replace("%25", "%") if "%" in value else value


async def _not_found(request: web.Request) -> web.StreamResponse:
    # dockerd's router answers unknown paths and wrong methods alike (no 405); logged, since a
    # docker CLI 28 `stop` of 500 containers once got this answer (#17, not reproduced since)
    log.info("no route for %s %s", request.method, request.path)
    return error_response(404, "page not found")


def _pattern(path: str) -> re.Pattern[str]:
    """aiohttp's template syntax: `{name}` is one path segment, `{name:regex}` a custom one."""
    out, pos = [], 0
    for m in _PARAM.finditer(path):
        out.append(re.escape(path[pos : m.start()]))
        out.append(f"(?P<{m.group(1)}>{m.group(2) or '[^{}/]+'})")
        pos = m.end()
    out.append(re.escape(path[pos:]))
    return re.compile("".join(out))


Routes = dict[str, ResourceRoute]  # method -> route


class EngineRouter(web.UrlDispatcher):
    def __init__(self) -> None:
        super().__init__()
        self._exact: dict[str, Routes] = {}
        self._templated: list[tuple[re.Pattern[str], Routes]] = []
        # what every unmatched request runs; its resource is not registered (no path reaches it)
        self._not_found = ResourceRoute("*", guarded(_not_found), web.PlainResource("/_404"))
        # routes that answer one small body and never stream: api/lean.py may serve them
        self.small: set[ResourceRoute] = set()
        self.at_once: dict[ResourceRoute, AtOnce] = {}

    def add(self, method: str, path: str, handler: Handler, small: bool = False,
            at_once: AtOnce | None = None) -> None:  # fmt: skip
        # Still registered with aiohttp too, so introspection (app.router.routes()) sees it.
        route = self.add_route(method, path, guarded(handler))
        assert isinstance(route, ResourceRoute)
        if small:
            self.small.add(route)
            if at_once is not None:
                self.at_once[route] = at_once
        if "{" not in path:
            self._exact.setdefault(path, {})[method] = route
            return
        pattern = _pattern(path)
        for known, routes in self._templated:
            if known.pattern == pattern.pattern:
                routes[method] = route
                return
        self._templated.append((pattern, {method: route}))

    def match(self, method: str, path: str) -> tuple[ResourceRoute, dict[str, str]] | None:
        """The route for `path` (as aiohttp's path_safe: %2F and %25 still escaped) and its
        parameters, `version` included when the path has a `/v1.xx` prefix; None: no route."""
        params: dict[str, str] = {}
        versioned = _VERSIONED.fullmatch(path)
        if versioned is not None:
            params["version"] = versioned.group(1)
            path = versioned.group(2)
        routes = self._exact.get(path)
        if routes is not None:
            route = routes.get(method)
            if route is not None:
                return route, params
        for pattern, routes in self._templated:
            m = pattern.fullmatch(path)
            if m is not None and method in routes:
                for key, value in m.groupdict().items():
                    params[key] = _unquote(value)
                return routes[method], params
        return None

    async def resolve(self, request: web.Request) -> UrlMappingMatchInfo:
        found = self.match(request.method, request.rel_url.path_safe)
        if found is None:
            version = _VERSIONED.fullmatch(request.rel_url.path_safe)
            # the version is still checked first: a bad one is a 400 even on unknown paths
            params = {"version": version.group(1)} if version is not None else {}
            return UrlMappingMatchInfo(params, self._not_found)
        return UrlMappingMatchInfo(found[1], found[0])
