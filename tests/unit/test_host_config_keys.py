"""HostConfig keys are matched case-insensitively, as Go's JSON decoding does (#16, E1)."""

from __future__ import annotations

from dockyard.services.containers.record import fold_keys, host_config


def test_keys_fold_to_docker_names() -> None:
    hc = host_config({"CPURealtimePeriod": 1000, "cpurealtimeruntime": 500, "memory": 8 << 20})
    assert (hc["CpuRealtimePeriod"], hc["CpuRealtimeRuntime"], hc["Memory"]) == (1000, 500, 8 << 20)
    assert "CPURealtimePeriod" not in hc and "memory" not in hc


def test_an_exact_key_wins_and_unknown_keys_stay() -> None:
    doc = fold_keys({"MEMORY": 1, "Memory": 2, "Mystery": 3}, ["Memory"])
    assert doc == {"Memory": 2, "Mystery": 3}
