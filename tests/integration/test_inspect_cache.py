"""R1 (#17): `GET /containers/{id}/json` answers from the encoded inspect it kept for that ref
(queries.inspect_encoded), so each answer must still be what a fresh read gives after anything
that changes it: its state (start, stop), its name and a link target's name (rename), an exec,
a network connect, an update, a removal; and one ref's answer is never another's."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Daemon

pytestmark = pytest.mark.integration


def _get(d: Daemon, ref: str) -> dict[str, Any]:
    status, body = d.api("GET", f"/containers/{ref}/json")
    assert status == 200, body
    assert isinstance(body, dict)
    return body


def _ok(d: Daemon, *args: str) -> str:
    r = d.dockyard(*args)
    assert r.returncode == 0, (args, r.stderr)
    return r.stdout.strip()


def test_every_change_shows_in_the_next_answer(daemon: Daemon) -> None:
    target = _ok(daemon, "run", "-d", "--name", "ic-db", "busybox", "sleep", "300")
    web = _ok(daemon, "create", "--name", "ic-web", "--link", "ic-db:db", "busybox", "sleep", "300")
    try:
        for _ in range(2):  # the second answer of each is the kept one
            assert _get(daemon, "ic-web")["State"]["Status"] == "created"
            assert _get(daemon, web[:12])["HostConfig"]["Links"] == ["/ic-db:/ic-web/db"]
        _ok(daemon, "start", "ic-web")
        assert _get(daemon, "ic-web")["State"]["Status"] == "running"
        _ok(daemon, "rename", "ic-db", "ic-db2")  # another record's name, in this one's Links
        assert _get(daemon, "ic-web")["HostConfig"]["Links"] == ["/ic-db2:/ic-web/db"]
        assert _get(daemon, target)["Name"] == "/ic-db2"
        assert daemon.api("GET", "/containers/ic-db/json")[0] == 404  # the old name's answer
        assert _get(daemon, "ic-web")["ExecIDs"] is None
        status, made = daemon.api("POST", "/containers/ic-web/exec", {"Cmd": ["true"]})
        assert status == 201, made
        assert _get(daemon, "ic-web")["ExecIDs"] == [made["Id"]]  # type: ignore[index]
        _ok(daemon, "update", "--memory", "64m", "--memory-swap", "128m", "ic-web")
        assert _get(daemon, "ic-web")["HostConfig"]["Memory"] == 64 << 20
        _ok(daemon, "network", "disconnect", "bridge", "ic-web")
        assert _get(daemon, "ic-web")["NetworkSettings"]["Networks"] == {}
        _ok(daemon, "stop", "-t", "0", "ic-web")
        assert _get(daemon, "ic-web")["State"]["Status"] == "exited"
        assert _get(daemon, web)["Id"] == web and _get(daemon, target)["Id"] == target
        _ok(daemon, "rm", "ic-web")
        assert daemon.api("GET", f"/containers/{web}/json")[0] == 404
    finally:
        daemon.dockyard("rm", "-f", "ic-web", "ic-db2", "ic-db")
