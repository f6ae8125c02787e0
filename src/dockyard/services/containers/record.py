"""Turning a `POST /containers/create` body into a stored container document.

Validation happens here, before anything is created (netavark's rule: validate everything before
mutating anything); the messages are Docker's."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from dockyard import errors
from dockyard.runtime import logopts, seccomp
from dockyard.runtime.cgroups import CgroupFeatures
from dockyard.services.containers import limits

_CONFIG_KEYS = [
    "Hostname",
    "Domainname",
    "User",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "ExposedPorts",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "Env",
    "Cmd",
    "Healthcheck",
    "ArgsEscaped",
    "Image",
    "Volumes",
    "WorkingDir",
    "Entrypoint",
    "NetworkDisabled",
    "MacAddress",
    "OnBuild",
    "Labels",
    "StopSignal",
    "StopTimeout",
    "Shell",
]

_RESTART_POLICIES = ("", "no", "always", "unless-stopped", "on-failure")


def merge_env(image_env: list[str], ctr_env: list[str]) -> list[str]:
    """Image variables first, a container variable with the same key replaces it in place. A
    container entry without "=" (`-e NAME` with NAME unset in the client, or the API's own) is
    kept as given: dockerd stores it so and leaves the variable out of the process."""
    merged: dict[str, str] = {}
    for item in [*image_env, *ctr_env]:
        merged[item.split("=", 1)[0]] = item
    return list(merged.values())


def merge_config(body: dict[str, Any], image_cfg: dict[str, Any]) -> dict[str, Any]:
    """The container's Config as Docker stores it: the request's fields, image defaults filled in."""
    cfg: dict[str, Any] = {k: body.get(k) for k in _CONFIG_KEYS if k in body}
    cfg.setdefault("Hostname", "")
    cfg.setdefault("Domainname", "")
    cfg.setdefault("User", "")
    for k in ("AttachStdin", "AttachStdout", "AttachStderr", "Tty", "OpenStdin", "StdinOnce"):
        cfg[k] = bool(cfg.get(k) or False)
    cfg["Env"] = merge_env(image_cfg.get("Env") or [], cfg.get("Env") or [])
    if not cfg.get("Entrypoint") and cfg.get("Entrypoint") != [""]:
        if not cfg.get("Cmd"):
            cfg["Cmd"] = image_cfg.get("Cmd")
        cfg["Entrypoint"] = image_cfg.get("Entrypoint")
    elif cfg.get("Entrypoint") == [""]:
        cfg["Entrypoint"] = None  # `--entrypoint ""` resets the image's entrypoint
    cfg.setdefault("Cmd", None)
    if not cfg.get("WorkingDir"):
        cfg["WorkingDir"] = image_cfg.get("WorkingDir") or ""
    if not cfg.get("User"):
        cfg["User"] = image_cfg.get("User") or ""
    for k in ("ExposedPorts", "Volumes"):
        merged = dict(image_cfg.get(k) or {})
        merged.update(cfg.get(k) or {})
        cfg[k] = merged or None
    labels = dict(image_cfg.get("Labels") or {})
    labels.update(cfg.get("Labels") or {})
    cfg["Labels"] = labels
    if not cfg.get("StopSignal") and image_cfg.get("StopSignal"):
        cfg["StopSignal"] = image_cfg["StopSignal"]
    cfg["Healthcheck"] = merge_healthcheck(cfg.get("Healthcheck"), image_cfg.get("Healthcheck"))
    if cfg["Healthcheck"] is None:
        del cfg["Healthcheck"]
    cfg["OnBuild"] = image_cfg.get("OnBuild")
    return cfg


def merge_healthcheck(mine: Any, image: Any) -> Any:
    """dockerd's merge (E6): the image's healthcheck unless the container has one; then each
    field the container leaves unset (empty Test, zero durations/retries) comes from the image,
    so `--no-healthcheck` (Test ["NONE"]) keeps the image's timings, as inspect shows."""
    if not mine:
        return copy.deepcopy(image) if image else None
    out = dict(mine)
    for k, v in (image or {}).items():
        if not out.get(k):
            out[k] = copy.deepcopy(v)
    return out


_MIN_DURATION = 1_000_000  # 1ms, dockerd's container.MinimumDuration


def validate_healthcheck(hc: Any) -> None:
    """Config.Healthcheck as dockerd 20.10 checks it at create (400, its words)."""
    if not hc:
        return
    for key in ("Interval", "Timeout"):
        if 0 != (hc.get(key) or 0) < _MIN_DURATION:
            raise errors.InvalidParameter(f"{key} in Healthcheck cannot be less than 1ms")
    if (hc.get("Retries") or 0) < 0:
        raise errors.InvalidParameter("Retries in Healthcheck cannot be negative")
    if 0 != (hc.get("StartPeriod") or 0) < _MIN_DURATION:
        raise errors.InvalidParameter("StartPeriod in Healthcheck cannot be less than 1ms")


def validate_env(env: Any) -> None:
    """Config.Env as dockerd 20.10 checks it at create: every entry names a variable."""
    for entry in env or ():
        if not entry.partition("=")[0]:
            raise errors.InvalidParameter(f"invalid environment variable: {entry}")


def command_of(cfg: dict[str, Any]) -> list[str]:
    return list(cfg.get("Entrypoint") or []) + list(cfg.get("Cmd") or [])


def validate_host_config(hc: dict[str, Any], host: CgroupFeatures | None = None) -> None:
    logopts.parse(hc.get("LogConfig"))  # the driver and its options, dockerd's wording
    cgroupns = hc.get("CgroupnsMode") or ""
    if cgroupns not in ("", "host", "private"):
        raise errors.InvalidParameter(f"invalid cgroup namespace mode: {cgroupns}")
    seccomp.validate(hc.get("SecurityOpt"))
    check_restart_policy(hc.get("RestartPolicy") or {})
    name = (hc.get("RestartPolicy") or {}).get("Name") or ""
    if hc.get("AutoRemove") and name not in ("", "no"):
        raise errors.InvalidParameter("can't create 'AutoRemove' container with restart policy")
    limits.check(hc, host, update=False)


def check_restart_policy(rp: dict[str, Any]) -> None:
    """dockerd 20.10's validateRestartPolicy (create and update)."""
    name = rp.get("Name") or ""
    retries = rp.get("MaximumRetryCount") or 0
    if name not in _RESTART_POLICIES:
        raise errors.InvalidParameter(f"invalid restart policy '{name}'")
    if name in ("always", "unless-stopped", "no") and retries != 0:
        raise errors.InvalidParameter(
            f"maximum retry count cannot be used with restart policy '{name}'"
        )
    if name == "on-failure" and retries < 0:
        raise errors.InvalidParameter("maximum retry count cannot be negative")


_HOST_CONFIG_DEFAULTS: dict[str, Any] = {
    "Binds": None,
    "ContainerIDFile": "",
    "NetworkMode": "default",
    "PortBindings": {},
    "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
    "AutoRemove": False,
    "VolumeDriver": "",
    "VolumesFrom": None,
    "CapAdd": None,
    "CapDrop": None,
    "Dns": [],
    "DnsOptions": [],
    "DnsSearch": [],
    "ExtraHosts": None,
    "GroupAdd": None,
    "IpcMode": "private",
    "Cgroup": "",
    "Links": None,
    "OomScoreAdj": 0,
    "PidMode": "",
    "Privileged": False,
    "PublishAllPorts": False,
    "ReadonlyRootfs": False,
    "SecurityOpt": None,
    "UTSMode": "",
    "UsernsMode": "",
    "ShmSize": 67108864,
    "Runtime": "runc",
    "Isolation": "",
    "CpuShares": 0,
    "Memory": 0,
    "NanoCpus": 0,
    "CgroupParent": "",
    "BlkioWeight": 0,
    "CpuPeriod": 0,
    "CpuQuota": 0,
    "CpuRealtimePeriod": 0,
    "CpuRealtimeRuntime": 0,
    "KernelMemory": 0,
    "KernelMemoryTCP": 0,
    "CpuCount": 0,
    "CpuPercent": 0,
    "IOMaximumIOps": 0,
    "IOMaximumBandwidth": 0,
    "CpusetCpus": "",
    "CpusetMems": "",
    "Devices": [],
    "MemoryReservation": 0,
    "MemorySwap": 0,
    "OomKillDisable": False,
    "PidsLimit": None,
    "Ulimits": None,
    "Mounts": None,
    "Tmpfs": None,
    "Sysctls": None,
    "Init": None,
    "MaskedPaths": None,
    "ReadonlyPaths": None,
}


# HostConfig's other fields: with the defaults' keys, the names a client's keys are folded to
_HOST_CONFIG_OTHERS = ("LogConfig", "CgroupnsMode", "Dns", "DnsOptions", "DnsSearch", "ExtraHosts",
    "GroupAdd", "IpcMode", "Cgroup", "Links", "OomScoreAdj", "PidMode", "Privileged",
    "PublishAllPorts", "ReadonlyRootfs", "SecurityOpt", "StorageOpt", "UTSMode", "UsernsMode",
    "ShmSize", "Runtime", "Isolation", "CpuShares", "Memory", "MemorySwappiness",
    "BlkioWeightDevice", "BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps",
    "BlkioDeviceWriteIOps", "DeviceCgroupRules", "DeviceRequests", "ConsoleSize", "Capabilities",
    "CpuRealtimePeriod", "CpuRealtimeRuntime", "OomKillDisable", "Annotations")  # fmt: skip


def fold_keys(doc: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """`doc` with keys that differ from a known name only in case renamed to it, as Go's JSON
    decoding matches them (docker-py sends `CPURealtimePeriod`); an exact key wins."""
    by_lower = {n.lower(): n for n in names}
    for key in list(doc):
        name = by_lower.get(key.lower())
        if name is not None and name != key:
            value = doc.pop(key)
            doc.setdefault(name, value)
    return doc


def host_config(
    hc_in: dict[str, Any] | None,
    cgroupns: str = "host",
    log_default: tuple[str, dict[str, str]] = (logopts.JSON_FILE, {}),
    host: CgroupFeatures | None = None,
) -> dict[str, Any]:
    """HostConfig with Docker's defaults filled in, as inspect shows them. `cgroupns` is the
    daemon's default cgroup namespace mode (private on a cgroup v2 host, host on v1);
    `log_default` the daemon's log driver and options (merged into LogConfig as dockerd does);
    `host` what the host's cgroups can limit (a limit it cannot apply is dropped, as dockerd
    does)."""
    hc = fold_keys(copy.deepcopy(hc_in or {}), (*_HOST_CONFIG_DEFAULTS, *_HOST_CONFIG_OTHERS))
    hc["LogConfig"] = logopts.merge(hc.get("LogConfig"), *log_default)
    validate_host_config(hc, host)
    hc["CgroupnsMode"] = hc.get("CgroupnsMode") or cgroupns
    if hc.get("PidsLimit") is not None and hc["PidsLimit"] <= 0:
        hc["PidsLimit"] = None  # 0 and -1 both mean unlimited: dockerd stores neither
    for k, v in _HOST_CONFIG_DEFAULTS.items():
        if hc.get(k) is None:
            hc[k] = copy.deepcopy(v)
    if not hc["RestartPolicy"].get("Name"):
        hc["RestartPolicy"] = {"Name": "no", "MaximumRetryCount": 0}
    if not hc.get("ShmSize"):
        hc["ShmSize"] = 67108864
    if hc.get("Memory") and not hc.get("MemorySwap"):
        hc["MemorySwap"] = hc["Memory"] * 2  # Docker's default: swap equal to memory
    return hc
