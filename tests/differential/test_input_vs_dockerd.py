"""Bad request bodies against the oracle dockerd and dockyard (#17 item 4, R1, E1): the same
message for each, and the same status -- except where dockerd 20.10 answers a type error on
create, update or commit with 500 and dockyard with 400, as later dockerds do (D-input-1)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.conftest import Daemon
from tests.integration.apiwire import call

pytestmark = [pytest.mark.compat, pytest.mark.integration]

# the bodies whose type errors dockerd 20.10 answers with 500
FIVE_HUNDRED_IN_20_10 = ("/containers/create", "/update", "/commit", "/auth")


@pytest.fixture(scope="module")
def boxes(oracle: str, daemon: Daemon) -> Iterator[dict[str, str]]:
    """A running container on each engine, named alike."""
    made = {}
    for sock in (oracle, str(daemon.socket)):
        status, body = call(sock, "POST", "/v1.41/containers/create?name=diff-input",
                            json.dumps({"Image": "busybox", "Cmd": ["sleep", "300"]}).encode())  # fmt: skip
        assert status == 201, body
        assert call(sock, "POST", f"/v1.41/containers/{body['Id']}/start", headers={})[0] == 204
        made[sock] = body["Id"]
    yield made
    for sock, cid in made.items():
        call(sock, "DELETE", f"/v1.41/containers/{cid}?force=1", headers={})


CASES = [
    ("/containers/create", '{"Image":"busybox","Env":{"A":"1"}}', None),
    ("/containers/create", '{"Image":"busybox","Cmd":5}', None),
    ("/containers/create", '{"Image":"busybox","Cmd":[1]}', None),
    ("/containers/create", '{"Image":"busybox","HostConfig":{"Memory":"x"}}', None),
    ("/containers/create", '{"Image":"busybox","HostConfig":{"Memory":1.5}}', None),
    ("/containers/create", '{"Image":"busybox","HostConfig":{"CpuShares":99999999999999999999}}', None),
    ("/containers/create", '{"Image":"busybox","HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":80}]}}}', None),
    ("/containers/create", '{"Image":"busybox","HostConfig":{"RestartPolicy":{"MaximumRetryCount":"x"}}}', None),
    ("/containers/create", '{"Image":"busybox","Healthcheck":{"Interval":"1s"}}', None),
    ("/containers/create", '{"Image":"busybox","Volumes":["/x"]}', None),
    ("/containers/create", '{"Image":"busybox","ExposedPorts":[1]}', None),
    ("/containers/create", '{"Image":"busybox","NetworkingConfig":{"EndpointsConfig":{"n":{"Aliases":"x"}}}}', None),
    ("/containers/create", "[1]", None),
    ("/containers/create", '{"Image":"busybox"}', "text/plain"),
    ("/containers/create", '{"Image":"busybox"}', "application/json;;"),
    ("/containers/{id}/update", '{"Memory":"x"}', None),
    ("/containers/{id}/update", '{"CpuShares":1.5}', None),
    ("/containers/{id}/update", '{"RestartPolicy":{"Name":5}}', None),
    ("/containers/{id}/update", '{"Memory":1}', "text/plain"),
    ("/containers/{id}/exec", '{"Cmd":5}', None),
    ("/containers/{id}/exec", '{"Cmd":["true"],"Tty":1}', None),
    ("/containers/{id}/exec", '{"Cmd":["true"]}', "text/plain"),
    ("/exec/nosuch/start", '{"Detach":"x"}', None),
    ("/commit?container={id}", '{"Env":{"A":1}}', None),
    ("/networks/create", '{"Name":"diff-input","Labels":5}', None),
    ("/networks/create", '{"Name":"diff-input","IPAM":{"Config":[{"Subnet":5}]}}', None),
    ("/networks/create", '{"Name":"diff-input","Internal":"x"}', None),
    ("/networks/create", "[]", None),
    ("/networks/create", '{"Name":"diff-input"}', "text/plain"),
    ("/networks/bridge/connect", '{"Container":5}', None),
    ("/networks/bridge/connect", '{"Container":"x","EndpointConfig":{"Aliases":"x"}}', None),
    ("/networks/bridge/disconnect", '{"Container":"x","Force":"x"}', None),
    ("/volumes/create", '{"Name":5}', None),
    ("/volumes/create", '{"Labels":[]}', None),
    ("/volumes/create", '{"DriverOpts":{"a":1}}', None),
    ("/volumes/create", "{", None),
    ("/volumes/create", '{"Name":"diff-input"}', "text/plain"),
    ("/containers/create", '{"Image":"busybox","HostConfig":{"Mounts":[{"Type":5}]}}', None),
    ("/containers/create", '{"Image":"busybox","HostConfig":{"Mounts":[{"TmpfsOptions":{"Mode":-1}}]}}', None),
    ("/containers/create", '{"Image":"busybox","HostConfig":{"ConsoleSize":[-1]}}', None),
    ("/containers/create", '{"Image":"busybox","HostConfig":{"BlkioWeightDevice":[5]}}', None),
    ("/containers/create", '{"Image":"busybox","hostconfig":{"memory":"x"}}', None),
    ("/containers/create", '{"Image":"busybox","Env":[null]}', None),
    ("/containers/create", '{"Image":"busybox","Env":["=x"]}', None),
    # no CheckForJSON on these; bad bodies are refused before any registry is asked
    ("/auth", '{"username":5}', "text/plain"),
    ("/auth", "[", None),
    ("/swarm/init", '{"ListenAddr":5}', "text/plain"),
    ("/swarm/join", '{"RemoteAddrs":"x"}', None),
]  # fmt: skip


@pytest.mark.parametrize(("path", "body", "content_type"), CASES)
def test_same_refusal(oracle: str, daemon: Daemon, boxes: dict[str, str], path: str, body: str,
                      content_type: str | None) -> None:  # fmt: skip
    headers = {"Content-Type": content_type or "application/json"}
    answers = []
    for sock in (oracle, str(daemon.socket)):
        url = "/v1.41" + path.replace("{id}", boxes[sock])
        answers.append(call(sock, "POST", url, body.encode(), headers))
    (want_status, want), (got_status, got) = answers
    assert got == want, (path, body)
    if want_status == 500:
        assert path.startswith(FIVE_HUNDRED_IN_20_10) or "/update" in path, (path, want)
        assert got_status == 400
    else:
        assert got_status == want_status == 400, (path, body, want, got)
