"""E1: the API router (api/router.py): `/v1.xx/` prefixes split off once, exact paths by dict
lookup, templated paths by regex in registration order, unknown paths and methods answered with
dockerd's 404, and every route of routes.py reachable with and without a version prefix."""

from __future__ import annotations

import asyncio
import re

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from dockyard.api.router import EngineRouter, _pattern, negotiate
from dockyard.api.routes import ROUTES, register
from dockyard.errors import InvalidParameter


def _router() -> EngineRouter:
    router = EngineRouter()
    register(router)
    return router


def _resolve(router: EngineRouter, method: str, path: str) -> tuple[str, dict[str, str]]:
    info = asyncio.run(router.resolve(make_mocked_request(method, path)))
    resource = info.route.resource
    return (resource.canonical if resource is not None else "?"), dict(info)


def _sample(path: str) -> str:
    """A concrete path for a template: `{id}` -> one segment, `{name:.+}` -> two."""
    return re.sub(r"\{(\w+)(?::[^}]*)?\}", lambda m: "a/b" if ":" in m.group(0) else "c1", path)


@pytest.mark.parametrize("prefix", ["", "/v1.24", "/v1.41", "/v1.44"])
def test_every_route_resolves_to_itself(prefix: str) -> None:
    """E1: each declared route is found for its method, under every version prefix."""
    router = _router()
    for route in ROUTES:
        canonical, params = _resolve(router, route.method, prefix + _sample(route.path))
        # aiohttp's canonical form drops a parameter's custom regex
        assert canonical == re.sub(r"\{(\w+):[^}]*\}", r"{\1}", route.path), route
        if prefix:
            assert params["version"] == prefix[2:]
        else:
            assert "version" not in params


@pytest.mark.parametrize(
    ("method", "path", "canonical", "params"),
    [
        ("GET", "/containers/json", "/containers/json", {}),  # exact beats {id}/json's template
        ("GET", "/containers/abc/json", "/containers/{id}/json", {"id": "abc"}),
        ("GET", "/images/json", "/images/json", {}),
        (
            "GET",
            "/images/reg:5000/ns/app:1/json",
            "/images/{name}/json",
            {"name": "reg:5000/ns/app:1"},
        ),  # fmt: skip
        (
            "GET",
            "/v1.41/images/a%2Fb/json",
            "/images/{name}/json",
            {"version": "1.41", "name": "a/b"},
        ),  # fmt: skip
        ("DELETE", "/images/busybox:latest", "/images/{name}", {"name": "busybox:latest"}),
        ("POST", "/volumes/create", "/volumes/create", {}),
        ("GET", "/volumes/create", "/volumes/{name}", {"name": "create"}),
        (
            "HEAD",
            "/v1.44/containers/x/archive",
            "/containers/{id}/archive",
            {"version": "1.44", "id": "x"},
        ),  # fmt: skip
        # a legacy link's name, parent/alias, names a container as dockerd reads it (#16)
        ("GET", "/containers/web/db/json", "/containers/{id}/json", {"id": "web/db"}),
        (
            "DELETE",
            "/v1.41/containers/web/db",
            "/containers/{id}",
            {"version": "1.41", "id": "web/db"},
        ),
    ],
)
def test_resolution(method: str, path: str, canonical: str, params: dict[str, str]) -> None:
    assert _resolve(_router(), method, path) == (canonical, params)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nope"),
        ("PUT", "/_ping"),
        ("GET", "/v1.41"),
        ("GET", "/vx/_ping"),
        ("DELETE", "/containers/"),
        ("POST", "/containers/x/json"),
    ],  # fmt: skip
)
def test_unknown_paths_and_methods_are_not_found(method: str, path: str) -> None:
    """E1: dockerd answers a wrong method like an unknown path: 404 "page not found"."""
    router = _router()
    info = asyncio.run(router.resolve(make_mocked_request(method, path)))
    assert info.route is router._not_found
    response = asyncio.run(info.handler(make_mocked_request(method, path)))
    assert isinstance(response, web.Response)
    assert response.status == 404
    assert response.body == b'{"message":"page not found"}\n'


def test_negotiate_bounds() -> None:
    """E1: versions outside [1.24, 1.44] are refused with dockerd's words."""
    assert negotiate(None) == (1, 44)
    assert negotiate("1.24") == (1, 24)
    assert negotiate("1.44") == (1, 44)
    with pytest.raises(InvalidParameter, match="client version 1.45 is too new"):
        negotiate("1.45")
    with pytest.raises(InvalidParameter, match="client version 1.23 is too old"):
        negotiate("1.23")


def test_pattern_follows_aiohttp_template_syntax() -> None:
    assert _pattern("/containers/{id}/json").fullmatch("/containers/a.b-c/json")
    assert not _pattern("/containers/{id}/json").fullmatch("/containers/a/b/json")
    m = _pattern("/images/{name:.+}/tag").fullmatch("/images/x/y:z/tag")
    assert m is not None and m.group("name") == "x/y:z"
    assert not _pattern("/a.b").fullmatch("/aXb")  # literal parts are escaped
