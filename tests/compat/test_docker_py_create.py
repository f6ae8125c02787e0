"""What docker-py sends at create, read as dockerd reads it (#16, E1)."""

from __future__ import annotations

import docker
import pytest

from tests.conftest import Daemon

pytestmark = [pytest.mark.compat, pytest.mark.integration]


def test_docker_py_realtime_cpu_keys(daemon: Daemon) -> None:
    """docker-py spells them `CPURealtimePeriod`/`CPURealtimeRuntime`; Go's decoder matches
    JSON keys case-insensitively, so dockerd keeps them: inspect shows Docker's names."""
    api = docker.APIClient(base_url=daemon.host, version="1.41")
    cid = ""
    try:
        hc = api.create_host_config(cpu_rt_period=1000, cpu_rt_runtime=500)
        assert "CPURealtimePeriod" in hc  # docker-py's own spelling: the case this covers
        cid = api.create_container("busybox", "true", host_config=hc)["Id"]
        got = api.inspect_container(cid)["HostConfig"]
        assert (got["CpuRealtimePeriod"], got["CpuRealtimeRuntime"]) == (1000, 500)
        assert "CPURealtimePeriod" not in got
    finally:
        if cid:
            api.remove_container(cid, force=True)
        api.close()
