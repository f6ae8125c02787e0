"""A stored container's Config and HostConfig in the shape dockerd's Go structs give them: every
field without `omitempty` present (null when unset), every `omitempty` field absent when empty.
The docker CLI sends nearly every field; docker-py (compose) sends few, and inspect must read the
same either way."""

from __future__ import annotations

from typing import Any

# HostConfig fields dockerd always shows, and their zero value when a client left them out.
HOST_ALWAYS: dict[str, Any] = {
    "ConsoleSize": [0, 0],
    "BlkioWeightDevice": None,
    "BlkioDeviceReadBps": None,
    "BlkioDeviceWriteBps": None,
    "BlkioDeviceReadIOps": None,
    "BlkioDeviceWriteIOps": None,
    "DeviceCgroupRules": None,
    "DeviceRequests": None,
    "MemorySwappiness": None,
    "OomKillDisable": False,
}
# `json:",omitempty"` in container.HostConfig.
HOST_OMITEMPTY = ("StorageOpt", "Tmpfs", "Sysctls", "Runtime", "Mounts", "Init")
# Pointers among them: only null is empty.
POINTERS = ("Init", "Healthcheck", "StopTimeout")
# `json:",omitempty"` in container.Config.
CONFIG_OMITEMPTY = ("ExposedPorts", "Healthcheck", "ArgsEscaped", "NetworkDisabled",
                    "MacAddress", "StopSignal", "StopTimeout", "Shell")  # fmt: skip


def _omit(doc: dict[str, Any], keys: tuple[str, ...]) -> None:
    for key in keys:
        if key not in doc:
            continue
        value = doc[key]
        if value is None or (key not in POINTERS and value in (False, "", [], {})):
            del doc[key]


def host_config(hc: dict[str, Any]) -> dict[str, Any]:
    """`hc` (changed in place and returned) as dockerd shows it."""
    for key, zero in HOST_ALWAYS.items():
        hc.setdefault(key, list(zero) if isinstance(zero, list) else zero)
    if hc.get("ConsoleSize") is None:
        hc["ConsoleSize"] = [0, 0]
    _omit(hc, HOST_OMITEMPTY)
    return hc


def config(cfg: dict[str, Any]) -> dict[str, Any]:
    """`cfg` (changed in place and returned) as dockerd shows it."""
    _omit(cfg, CONFIG_OMITEMPTY)
    return cfg
