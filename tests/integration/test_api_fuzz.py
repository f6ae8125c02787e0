"""Property-based fuzzing of the Engine API (#17 item 4, R1, E1): every implemented route that
answers one request with one response is driven with generated path ids, query parameters and
bodies -- bodies shaped by the typed models of api/models.py, with wrong-typed JSON spliced in
anywhere, or any JSON at all. The properties, checked after every request:

- no answer is an untyped 500: the daemon's log never says `unexpected error` (what api/errors.py
  logs for an exception that is not a DockyardError), and no message shows Python internals;
- the daemon stays up (`/_ping`);
- a refused request (4xx/5xx) changed nothing: containers (state, command, changes), networks,
  volumes and images are what they were.

`/auth` is left to the unit and differential tests: an accepted body would ask a registry.
Deterministic (`derandomize=True`) and bounded (`max_examples` per route group, ~1-2 min in
all). Safety: generated requests never reach beyond the host: no `/auth`, pulls only from a
closed local port, no bind mounts, devices, IPAM subnets or bridge options, no volume driver
options that mount (`type`, `o`, `device`); ids and names never look like hex id prefixes, so
only the fixtures' containers are ever started, stopped or killed.
"""

from __future__ import annotations

import json
import re
import time
import types
from collections import Counter
from collections.abc import Iterator
from typing import Annotated, Any, Union, get_args, get_origin, get_type_hints
from urllib.parse import quote, urlencode

import msgspec
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from dockyard.api import models
from tests.conftest import Daemon, private_daemon
from tests.integration.apiwire import call, state

pytestmark = pytest.mark.integration

# never hex-only, so never an id prefix of a real container, image, network or exec
NAME_CHARS = "ghijklmnopqrstuvwxyz-_.:/ =%éü"
names = st.text(alphabet=NAME_CHARS, min_size=1, max_size=10).filter(lambda s: s.strip("-_.:/ "))
WORDS = ["", "busybox", "none", "host", "bridge", "default", "a=b", "80/tcp", "/tmp", "no",
         "always", "on-failure", "unless-stopped", "json-file", "SIGKILL", "TERM", "127.0.0.1",
         "1", "-1", "0", "true", "x" * 300, "../..", "/", "{}", "\u0000"]  # fmt: skip
strings = st.one_of(st.sampled_from(WORDS), st.text(alphabet=NAME_CHARS + "ab01", max_size=12))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False)
    | strings,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(strings, inner, max_size=3),
    max_leaves=8,
)  # fmt: skip

# fields whose valid values would reach outside the test's own objects (see the docstring), and
# RestartPolicy: on a fixture it would make its state move by itself between two looks
UNSAFE = {"Binds", "Mounts", "Devices", "VolumeDriver", "IPAM", "Options", "ConfigFrom",
          "CgroupParent", "Runtime", "DeviceRequests", "Sysctls", "RestartPolicy"}  # fmt: skip
MOUNTING_OPTS = {"type", "o", "device"}


def model_fields(model: type[models.Model]) -> dict[str, Any]:
    """The model's fields and their annotations (not its ClassVars)."""
    hints = get_type_hints(model, include_extras=True)
    return {name: hints[name] for name in model.__struct_fields__}


def shaped(tp: Any, wrong: bool) -> st.SearchStrategy[Any]:
    """Values of the model type `tp`; with `wrong`, any node may be any JSON instead."""
    right = _shaped(tp, wrong)
    return st.one_of(right, right, right, json_values) if wrong else right


def _shaped(tp: Any, wrong: bool) -> st.SearchStrategy[Any]:
    meta: list[msgspec.Meta] = []
    while True:
        if get_origin(tp) is Annotated:
            meta += [m for m in get_args(tp)[1:] if isinstance(m, msgspec.Meta)]
            tp = get_args(tp)[0]
        elif get_origin(tp) in (Union, types.UnionType):
            return st.one_of([_shaped(a, wrong) if a is not type(None) else st.none()
                              for a in get_args(tp)])  # fmt: skip
        else:
            break
    if isinstance(tp, type) and issubclass(tp, models.Model):
        hints = model_fields(tp)
        optional = {k: shaped(v, wrong) for k, v in hints.items() if k not in UNSAFE}
        return st.fixed_dictionaries({}, optional=optional)
    if tp is str:
        return strings
    if tp is bool:
        return st.booleans()
    if tp is int:
        low = next((m.ge for m in meta if m.ge is not None), -(2**63))
        high = next((m.le for m in meta if m.le is not None), 2**63 - 1)
        edges = [low, high, low - 1, high + 1, 0, 1, -1, 6 << 20, 2**31]
        return st.integers(-3, 3) | st.sampled_from(edges)
    origin = get_origin(tp)
    if origin is list:
        return st.lists(shaped(get_args(tp)[0], wrong), max_size=3)
    if origin is dict:
        keys = strings.filter(lambda k: k not in MOUNTING_OPTS)
        return st.dictionaries(keys, shaped(get_args(tp)[1], wrong), max_size=3)
    return json_values


# what a body needs to be accepted at all (the rest of it is generated)
BASE: dict[type[models.Model], dict[str, Any]] = {models.ContainerConfig: {"Image": "busybox"}}


@st.composite
def one_field(draw: st.DrawFn, model: type[models.Model]) -> dict[str, Any]:
    """A body likely to be accepted: the base and one generated field."""
    hints = {k: v for k, v in model_fields(model).items() if k not in UNSAFE}
    key = draw(st.sampled_from(sorted(hints)))
    return {**BASE.get(model, {}), key: draw(_shaped(hints[key], False))}


def bodies(model: type[models.Model]) -> st.SearchStrategy[bytes]:
    """Schema-shaped (whole, or one field), schema-shaped with wrong types inside, any JSON,
    or not JSON at all."""
    as_json = st.one_of(st.just(BASE.get(model, {})), one_field(model), one_field(model),
                        _shaped(model, False), _shaped(model, True), _shaped(model, True),
                        json_values).map(lambda v: json.dumps(v).encode())  # fmt: skip
    return as_json | st.sampled_from([b"", b"{", b"[]", b'{"a":NaN}', b"\xff\xfe", b"null"])


def queries(keys: list[str], fixed: dict[str, str] | None = None) -> st.SearchStrategy[str]:
    values = st.one_of(strings, st.sampled_from(["1", "0", "true", "-5", "99999999999"]),
                       st.dictionaries(st.sampled_from(["label", "name", "status", "dangling"]),
                                       st.lists(strings, max_size=2), max_size=2).map(json.dumps))  # fmt: skip
    return st.dictionaries(st.sampled_from(keys), values, max_size=4).map(
        lambda q: urlencode({**q, **(fixed or {})})
    )


Request = tuple[str, str, str, bytes | None, dict[str, str]]  # route, method, path, body, headers
JSON = {"Content-Type": "application/json"}
CONTENT_TYPES = st.sampled_from(
    [JSON, JSON, JSON, JSON, {"Content-Type": "text/plain"}, {}, {"Content-Type": "application/json; charset=utf-8"}]
)  # fmt: skip
FILTERS = ["filters", "all", "limit", "size", "dangling", "digests"]


class Pool:
    """The fixtures' ids, set once the daemon is up (strategies are built at import time)."""

    ids: list[str] = []


def ids() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(["box", "idle", "nosuch"]), names).map(
        lambda k: {"box": Pool.ids[0], "idle": Pool.ids[1]}.get(k, k) if Pool.ids else k
    )


# the routes that take a typed JSON body: (path template, model, query)
BODY_ROUTES: list[tuple[str, type[models.Model], st.SearchStrategy[str]]] = [
        ("/containers/create", models.ContainerConfig, queries(["name", "platform"])),
        ("/containers/{id}/update", models.UpdateConfig, st.just("")),
        ("/containers/{id}/exec", models.ExecConfig, st.just("")),
        ("/exec/{id}/start", models.ExecStartCheck, st.just("")),  # never a real exec: no hijack
        ("/commit", models.ContainerConfig, queries(["container", "repo", "tag", "comment",
                                                     "author", "changes", "pause"])),
        ("/networks/create", models.NetworkCreate, st.just("")),
        ("/networks/{id}/connect", models.NetworkConnect, st.just("")),
        ("/networks/{id}/disconnect", models.NetworkDisconnect, st.just("")),
        ("/volumes/create", models.VolumeCreate, st.just("")),
        ("/swarm/init", models.SwarmInit, st.just("")),
        ("/swarm/join", models.SwarmJoin, st.just("")),
    ]  # fmt: skip


@st.composite
def body_requests(draw: st.DrawFn) -> Request:
    """A route of BODY_ROUTES with a generated body, id and query."""
    cid = draw(ids())
    route, model, query = draw(st.sampled_from(BODY_ROUTES))
    if route == "/exec/{id}/start":
        cid = draw(names)
    elif route.startswith("/networks/{id}"):
        cid = draw(st.sampled_from(["bridge", "none", "host"]) | names)
    path = route.replace("{id}", quote(cid, safe=""))
    q = draw(query)
    if route == "/commit":
        q = f"container={quote(cid, safe='')}&{q}"
    return route, "POST", f"{path}?{q}", draw(bodies(model)), draw(CONTENT_TYPES)


def wrong_request(route: str, model: type[models.Model]) -> Request:
    """The route with a body whose first plain field holds an object: a type error for sure."""
    hints = model_fields(model)
    field = next(
        k
        for k, v in hints.items()
        if not isinstance(_strip(v), type) or _strip(v) in (str, bool, int)
    )
    target = (
        "nosuch"
        if route.startswith("/exec/")
        else "bridge"
        if route.startswith("/networks/{id}")
        else Pool.ids[0]
    )
    path = route.replace("{id}", target)
    if route == "/commit":
        path += f"?container={target}"
    return route, "POST", path, json.dumps({field: {"x": 1}}).encode(), JSON


def _strip(tp: Any) -> Any:
    while get_origin(tp) is Annotated or get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        tp = args[0] if get_origin(tp) is Annotated or len(args) == 1 else tp
        if get_origin(tp) in (Union, types.UnionType):
            break
    return tp


# the routes driven by their path and query alone: (method, path template, query keys, fixed)
PARAM_ROUTES: list[tuple[str, str, list[str], dict[str, str]]] = [
        ("GET", "/containers/json", FILTERS, {}),
        ("GET", "/containers/{id}/json", ["size"], {}),
        ("POST", "/containers/{id}/start", ["detachKeys"], {}),
        ("POST", "/containers/{id}/stop", ["signal"], {"t": "0"}),
        ("POST", "/containers/{id}/restart", ["signal"], {"t": "0"}),
        ("POST", "/containers/{id}/kill", ["signal"], {}),
        ("POST", "/containers/{id}/pause", [], {}),
        ("POST", "/containers/{id}/unpause", [], {}),
        ("GET", "/containers/{id}/logs", ["stdout", "stderr", "since", "until", "timestamps", "tail"], {"follow": "0"}),
        ("GET", "/containers/{id}/top", ["ps_args"], {}),
        ("GET", "/containers/{id}/stats", ["one-shot"], {"stream": "0"}),
        ("POST", "/containers/{id}/rename", ["name"], {}),
        ("GET", "/containers/{id}/changes", [], {}),
        ("HEAD", "/containers/{id}/archive", ["path"], {}),
        ("GET", "/containers/{id}/archive", ["path"], {}),
        ("PUT", "/containers/{id}/archive", ["path", "noOverwriteDirNonDir", "copyUIDGID"], {}),
        ("POST", "/containers/{id}/resize", ["h", "w"], {}),
        ("DELETE", "/containers/{name}", ["force", "v", "link"], {}),
        ("POST", "/containers/prune", ["filters"], {}),
        ("POST", "/exec/{name}/resize", ["h", "w"], {}),
        ("GET", "/exec/{name}/json", [], {}),
        ("GET", "/images/json", FILTERS, {}),
        ("GET", "/images/{name}/json", [], {}),
        ("GET", "/images/{name}/history", [], {}),
        ("POST", "/images/{name}/tag", ["repo", "tag"], {}),
        ("DELETE", "/images/{name}", ["force", "noprune"], {}),
        ("POST", "/images/prune", ["filters"], {}),
        ("POST", "/images/create", ["tag", "platform"], {"fromImage": "127.0.0.1:9/fuzz/nosuch"}),
        ("GET", "/images/get", ["names"], {}),
        ("POST", "/images/load", ["quiet"], {}),
        ("POST", "/build", ["t", "dockerfile", "q", "rm", "forcerm", "buildargs", "labels"], {}),
        ("POST", "/build/prune", ["all", "filters"], {}),
        ("GET", "/networks", ["filters"], {}),
        ("GET", "/networks/{name}", ["verbose", "scope"], {}),
        ("DELETE", "/networks/{name}", [], {}),
        ("POST", "/networks/prune", ["filters"], {}),
        ("GET", "/volumes", ["filters"], {}),
        ("GET", "/volumes/{name}", [], {}),
        ("DELETE", "/volumes/{name}", ["force"], {}),
        ("POST", "/volumes/prune", ["filters"], {}),
        ("GET", "/info", [], {}),
        ("GET", "/version", [], {}),
        ("GET", "/system/df", ["type"], {}),
        ("POST", "/swarm/init", [], {}),
        ("GET", "/services", ["filters"], {}),
        ("POST", "/services/create", [], {}),
    ]  # fmt: skip


@st.composite
def param_requests(draw: st.DrawFn) -> Request:
    """A route of PARAM_ROUTES with a generated id or name, query and body (ignored or none)."""
    method, template, keys, fixed = draw(st.sampled_from(PARAM_ROUTES))
    path = template.format(id=quote(draw(ids()), safe=""), name=quote(draw(names), safe=""))
    body = draw(
        st.none() | st.binary(max_size=64) | json_values.map(lambda v: json.dumps(v).encode())
    )
    return (
        f"{method} {template}",
        method,
        f"{path}?{draw(queries(keys or ['x'], fixed))}",
        body,
        draw(CONTENT_TYPES),
    )


def plain_request(method: str, template: str, fixed: dict[str, str]) -> Request:
    """The route with the first fixture's id (or `nosuch`), only the fixed query, no body."""
    path = template.format(id=Pool.ids[0], name="nosuch")
    return f"{method} {template}", method, f"{path}?{urlencode(fixed)}", None, {}


PYTHON_WORDS = re.compile(
    r"Traceback|KeyError|TypeError|ValueError|AttributeError|IndexError|NoneType|object has no "
    r"attribute|not subscriptable|unhashable|got an unexpected keyword|positional argument"
)


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[Daemon]:
    """A daemon of its own (its log is read for untyped errors), a running and an idle container."""
    with private_daemon("fz", "dyfz") as d:
        made = []
        for name, cmd in (("fz-box", ["sleep", "3600"]), ("fz-idle", ["true"])):
            status, body = d.api(
                "POST", f"/containers/create?name={name}", {"Image": "busybox", "Cmd": cmd}
            )
            assert status == 201, body
            made.append(body["Id"])
        assert d.api("POST", f"/containers/{made[0]}/start")[0] == 204
        Pool.ids = made
        try:
            yield d
        finally:
            Pool.ids = []
            # user networks' bridges outlive the daemon: their containers go first, then they
            for c in d.api("GET", "/containers/json?all=1")[1] or []:
                d.api("DELETE", f"/containers/{c['Id']}?force=1&v=1")
            for n in d.api("GET", "/networks")[1] or []:
                if n["Name"] not in ("bridge", "host", "none"):
                    assert call(d.socket, "DELETE", f"/networks/{n['Id']}", headers={})[0] == 204


def _settled(d: Daemon) -> dict[str, Any]:
    """The daemon's state once two looks agree (an earlier kill's exit may still be landing)."""
    last = state(d.socket, Pool.ids)
    for _ in range(50):
        time.sleep(0.01)
        now = state(d.socket, Pool.ids)
        if now == last:
            return now
        last = now
    return last


def _check(d: Daemon, request: Request) -> tuple[int, str]:
    """Send `request` and check the properties; its status and message."""
    _, method, path, body, headers = request
    log_at = d.log_path.stat().st_size
    before = _settled(d)
    status, answer = call(d.socket, method, path, body, headers, timeout=60)
    new_log = d.log_path.read_bytes()[log_at:].decode(errors="replace")
    assert "unexpected error" not in new_log, (request, status, answer, new_log[-3000:])
    message = answer.get("message", "") if isinstance(answer, dict) else ""
    assert not PYTHON_WORDS.search(message), (request, status, answer)
    assert call(d.socket, "GET", "/_ping", headers={})[0] == 200, request
    if status >= 400:
        assert state(d.socket, Pool.ids) == before, (request, status, answer)
    return status, message


FUZZ = settings(derandomize=True, deadline=None, database=None, print_blob=False,
                phases=[Phase.explicit, Phase.generate],  # no shrinking: bounded time
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.filter_too_much])  # fmt: skip


def test_typed_bodies(fuzzed: Daemon) -> None:
    """R1, E1: generated bodies for every route that takes one. Not vacuous: besides the
    generated ones, each route gets one body with a sure type error (hypothesis' explicit
    examples), and each must have been refused in Go's words."""
    seen: Counter[tuple[str, int]] = Counter()
    typed = Counter[str]()

    def one(request: Request) -> None:
        status, message = _check(fuzzed, request)
        seen[request[0], status // 100] += 1
        typed[request[0]] += message.startswith("json: cannot unmarshal")

    run = given(request=body_requests())(one)
    for route, model, _ in BODY_ROUTES:
        run = example(request=wrong_request(route, model))(run)
    settings(FUZZ, max_examples=220)(run)()
    assert set(typed) == {route for route, _, _ in BODY_ROUTES} and all(typed.values()), typed
    assert sum(n for (_, k), n in seen.items() if k == 2) >= 10, seen
    assert "unexpected error" not in fuzzed.log_path.read_text()


def test_paths_and_queries(fuzzed: Daemon) -> None:
    """R1, E1: generated ids, names and query parameters for the other routes; each route is
    also called once plainly (an explicit example), so every one is reached."""
    seen: Counter[tuple[str, int]] = Counter()

    def one(request: Request) -> None:
        status, _ = _check(fuzzed, request)
        seen[request[0], status // 100] += 1

    run = given(request=param_requests())(one)
    for method, template, _, fixed in PARAM_ROUTES:
        run = example(request=plain_request(method, template, fixed))(run)
    settings(FUZZ, max_examples=220)(run)()
    assert {route for route, _ in seen} == {f"{m} {t}" for m, t, _, _ in PARAM_ROUTES}, seen
    assert sum(n for (_, k), n in seen.items() if k == 2) >= 10, seen
    assert sum(n for (_, k), n in seen.items() if k == 4) >= 10, seen
