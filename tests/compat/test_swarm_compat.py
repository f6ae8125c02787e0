"""Swarm mode's endpoints answer as a dockerd that is not in a swarm (#16, E1): the same status
and words as the oracle dockerd for every one of them, and what docker-py and the docker CLI make
of that (docker-py's network tests call `leave_swarm(force=True)` in their teardown)."""

from __future__ import annotations

import json

import docker
import pytest

from tests.compat.cli import docker as docker_cli
from tests.conftest import Daemon, UnixHTTPConnection

pytestmark = [pytest.mark.compat, pytest.mark.integration]

NOT_A_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to '
    "connect this node to swarm and try again."
)
# (method, path, body): every swarm route of dockerd 20.10, plus the checks it makes first
ASKED = [
    ("POST", "/swarm/leave?force=1", None), ("POST", "/swarm/leave", None), ("GET", "/swarm", None),
    ("GET", "/swarm/unlockkey", None), ("POST", "/swarm/update?version=1", {}),
    ("POST", "/swarm/update", {}), ("POST", "/swarm/update?version=x", {}),
    ("POST", "/swarm/unlock", {"UnlockKey": "x"}), ("POST", "/swarm/init", {}),
    ("POST", "/swarm/join", {}),
    ("GET", "/services", None), ("GET", "/services?filters=bad", None), ("GET", "/services/x", None),
    ("POST", "/services/create", {}), ("POST", "/services/x/update?version=1", {}),
    ("POST", "/services/x/update", {}), ("DELETE", "/services/x", None),
    ("GET", "/services/x/logs?stdout=1", None),
    ("GET", "/nodes", None), ("GET", "/nodes/x", None), ("DELETE", "/nodes/x", None),
    ("POST", "/nodes/x/update?version=1", {}), ("POST", "/nodes/x/update?version=-1", {}),
    ("GET", "/tasks", None), ("GET", "/tasks/x", None), ("GET", "/tasks/x/logs?stdout=1", None),
    ("GET", "/secrets", None), ("POST", "/secrets/create", {}), ("GET", "/secrets/x", None),
    ("DELETE", "/secrets/x", None), ("POST", "/secrets/x/update?version=1", {}),
    ("POST", "/secrets/x/update", {}),
    ("GET", "/configs", None), ("POST", "/configs/create", {}), ("GET", "/configs/x", None),
    ("DELETE", "/configs/x", None), ("POST", "/configs/x/update?version=1", {}),
    ("POST", "/configs/x/update?version=", {}),
    ("POST", "/networks/create", {"Name": "dpy6-ov", "Driver": "overlay"}),  # D-dpy6-2
]  # fmt: skip


def _ask(sock: str, method: str, path: str, body: object) -> tuple[int, str, object]:
    conn = UnixHTTPConnection(sock)
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data is not None else {}
    conn.request(method, f"/v1.41{path}", body=data, headers=headers)
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    return resp.status, resp.getheader("Content-Type") or "", json.loads(payload)


def test_swarm_endpoints_answer_as_dockerd_not_in_a_swarm(daemon: Daemon, oracle: str) -> None:
    ours = {(m, p): _ask(str(daemon.socket), m, p, b) for m, p, b in ASKED}
    theirs = {(m, p): _ask(oracle, m, p, b) for m, p, b in ASKED if "/swarm/init" not in p}
    # `init` with an address would make a swarm (tests/compat/test_swarm_mode.py): compared
    # without it; `join` with an address is refused, dockyard's swarm has one node
    assert {k: v for k, v in ours.items() if k in theirs} == theirs
    assert ours[("POST", "/swarm/init")] == ours[("POST", "/swarm/join")]
    assert ours[("POST", "/swarm/leave?force=1")] == (
        503, "application/json", {"message": "This node is not part of a swarm"}
    )  # fmt: skip
    status, _, body = _ask(str(daemon.socket), "POST", "/swarm/join", {"ListenAddr": "0.0.0.0"})
    assert (status, body) == (
        503, {"message": "This node cannot join a swarm: dockyard's swarm mode has one node"}
    )  # fmt: skip


def test_docker_py_sees_no_swarm(daemon: Daemon) -> None:
    client = docker.APIClient(base_url=daemon.host, version="1.41")
    try:
        # docker-py's own test teardown: leave_swarm takes a 503 "not part of a swarm" as done
        assert client.leave_swarm(force=True) is True
        for call in (client.services, client.nodes, client.tasks, client.secrets, client.configs):
            with pytest.raises(docker.errors.APIError) as exc:
                call()
            assert (exc.value.status_code, exc.value.explanation) == (503, NOT_A_MANAGER)
        assert client.info()["Swarm"]["LocalNodeState"] == "inactive"
    finally:
        client.close()


def test_docker_cli_sees_no_swarm(daemon: Daemon) -> None:
    r = docker_cli(daemon, "swarm", "leave", "--force")
    assert r.returncode == 1
    assert r.stderr == "Error response from daemon: This node is not part of a swarm\n"
    for args in (["service", "ls"], ["node", "ls"], ["secret", "ls"], ["config", "ls"]):
        r = docker_cli(daemon, *args)
        assert r.returncode == 1, args
        assert r.stderr == f"Error response from daemon: {NOT_A_MANAGER}\n", args
