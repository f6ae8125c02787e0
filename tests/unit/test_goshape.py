"""Container Config/HostConfig in dockerd's Go shape (found by the compose project of #15):
docker-py sends few fields, so inspect must add the ones dockerd always shows and drop the
`omitempty` ones that are empty, as for a docker CLI create."""

from __future__ import annotations

from dockyard.services.containers import goshape, record


def test_sparse_docker_py_host_config_reads_as_dockerd() -> None:
    hc = goshape.host_config(record.host_config({"NetworkMode": "shop_net", "Init": None,
                                                 "Mounts": None, "Tmpfs": {}, "Sysctls": None}))  # fmt: skip
    for key in ("Init", "Mounts", "Tmpfs", "Sysctls", "StorageOpt"):
        assert key not in hc, key
    assert hc["ConsoleSize"] == [0, 0] and hc["MemorySwappiness"] is None
    assert hc["OomKillDisable"] is False and hc["Runtime"] == "runc"
    for key in ("BlkioWeightDevice", "BlkioDeviceReadBps", "BlkioDeviceWriteBps",
                "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps", "DeviceCgroupRules",
                "DeviceRequests"):  # fmt: skip
        assert key in hc and hc[key] is None, key


def test_given_values_kept() -> None:
    """What a client set stays, including a false *bool and the CLI's empty lists."""
    hc = goshape.host_config({"Init": False, "Mounts": [{"Type": "volume"}], "Tmpfs": {"/t": ""},
                              "BlkioWeightDevice": [], "ConsoleSize": [24, 80]})  # fmt: skip
    assert hc["Init"] is False and hc["Mounts"] == [{"Type": "volume"}]
    assert hc["Tmpfs"] == {"/t": ""} and hc["BlkioWeightDevice"] == []
    assert hc["ConsoleSize"] == [24, 80]


def test_config_omitempty() -> None:
    cfg = record.merge_config({"Image": "busybox", "NetworkDisabled": False, "MacAddress": "",
                               "StopTimeout": 0, "Shell": None}, {"Cmd": ["sh"]})  # fmt: skip
    cfg = goshape.config(cfg)
    for key in ("ExposedPorts", "NetworkDisabled", "MacAddress", "Shell", "Healthcheck"):
        assert key not in cfg, key
    assert cfg["StopTimeout"] == 0  # a *int: zero is shown
    assert cfg["Env"] == [] and cfg["Cmd"] == ["sh"]
    kept = goshape.config({"ExposedPorts": {"80/tcp": {}}, "StopSignal": "SIGINT"})
    assert kept == {"ExposedPorts": {"80/tcp": {}}, "StopSignal": "SIGINT"}
