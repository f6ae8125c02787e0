"""What docker-py and the docker CLI show for bad input (#17 item 4, R1, E1): dockerd's words
in docker-py's APIError (a client error, 400) and in the CLI's `Error response from daemon`,
and nothing made."""

from __future__ import annotations

from pathlib import Path

import docker
import pytest

from tests.compat.cli import docker as docker_cli
from tests.conftest import Daemon
from tests.integration.apiwire import state

pytestmark = [pytest.mark.compat, pytest.mark.integration]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.api.create_container_from_config({"Image": "busybox", "Env": {"A": "1"}}),
         "json: cannot unmarshal object into Go struct field ContainerConfigWrapper.Env of type []string"),
        (lambda c: c.api.create_container_from_config({"Image": "busybox", "Cmd": 5}),
         "json: cannot unmarshal number into Go struct field ContainerConfigWrapper.Cmd of type string"),
        (lambda c: c.api.create_container_from_config({"Image": "busybox", "HostConfig": {"Memory": "x"}}),
         "json: cannot unmarshal string into Go struct field HostConfig.HostConfig.Memory of type int64"),
        (lambda c: c.volumes.create("input-compat", driver_opts={"size": 1}),
         "json: cannot unmarshal number into Go struct field VolumeCreateBody.DriverOpts of type string"),
        (lambda c: c.networks.create("input-compat", labels={"a": True}),
         "json: cannot unmarshal bool into Go struct field NetworkCreateRequest.Labels of type string"),
    ],
)  # fmt: skip
def test_docker_py_sees_a_client_error_in_dockerds_words(daemon: Daemon, call: object,
                                                         message: str) -> None:  # fmt: skip
    client = docker.DockerClient(base_url=daemon.host, version="1.41")
    before = state(daemon.socket)
    try:
        with pytest.raises(docker.errors.APIError) as info:
            call(client)  # type: ignore[operator]
    finally:
        client.close()
    err = info.value
    assert err.status_code == 400 and err.is_client_error()
    assert err.explanation == message
    assert str(err).endswith(f'Bad Request ("{message}")')
    assert state(daemon.socket) == before


def test_docker_cli_shows_the_body_limit(daemon: Daemon, tmp_path: Path) -> None:
    """R1: an env file too big for a create body: the CLI prints the daemon's 413 message."""
    env_file = tmp_path / "env"
    env_file.write_text("".join(f"V{i}={'x' * 1000}\n" for i in range(9000)))  # ~9 MiB
    before = state(daemon.socket)
    r = docker_cli(daemon, "create", "--env-file", str(env_file), "busybox")
    assert r.returncode != 0
    assert r.stderr.strip() == (
        "Error response from daemon: request body is too large: the limit for a JSON body is 8 MiB"
    )
    assert state(daemon.socket) == before


def test_docker_cli_create_with_every_flag_type_passes_the_check(daemon: Daemon) -> None:
    """E1: what the CLI sends (nearly every field, nulls included) is well typed: no false
    refusals for a create with many options."""
    r = docker_cli(daemon, "create", "--name", "input-cli-many", "-e", "A=1", "-l", "k=v",
                   "-p", "127.0.0.1::80", "-m", "64m", "--cpus", "0.5", "--pids-limit", "50",
                   "--restart", "on-failure:2", "--health-cmd", "true", "--health-interval", "5s",
                   "--ulimit", "nofile=100:200", "--tmpfs", "/run", "--cap-add", "NET_ADMIN",
                   "--dns", "127.0.0.1", "--add-host", "h:127.0.0.1", "--stop-timeout", "3",
                   "busybox", "true")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert docker_cli(daemon, "rm", "input-cli-many").returncode == 0
