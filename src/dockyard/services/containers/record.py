"""Turning a `POST /containers/create` body into a stored container document.

Validation happens here, before anything is created (netavark's rule: validate everything before
mutating anything); the messages are Docker's."""

from __future__ import annotations

import copy
import os
from typing import Any

from dockyard import errors
from dockyard.runtime import logopts, seccomp

MIN_MEMORY = 6 * 1024 * 1024

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


def _env_map(env: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in env:
        k, _, v = item.partition("=")
        out[k] = v
    return out


def merge_env(image_env: list[str], ctr_env: list[str]) -> list[str]:
    """Image variables first, a container variable with the same key replaces it in place."""
    merged = _env_map(image_env)
    for item in ctr_env:
        k, sep, v = item.partition("=")
        if not sep:
            # `-e NAME` without a value: the CLI resolved it already; keep as given.
            merged.setdefault(k, "")
            continue
        merged[k] = v
    return [f"{k}={v}" for k, v in merged.items()]


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


def command_of(cfg: dict[str, Any]) -> list[str]:
    return list(cfg.get("Entrypoint") or []) + list(cfg.get("Cmd") or [])


def validate_host_config(hc: dict[str, Any]) -> None:
    logopts.parse(hc.get("LogConfig"))  # the driver and its options, dockerd's wording
    cgroupns = hc.get("CgroupnsMode") or ""
    if cgroupns not in ("", "host", "private"):
        raise errors.InvalidParameter(f"invalid cgroup namespace mode: {cgroupns}")
    seccomp.validate(hc.get("SecurityOpt"))
    rp = hc.get("RestartPolicy") or {}
    name = rp.get("Name") or ""
    if name not in _RESTART_POLICIES:
        raise errors.InvalidParameter(f"invalid restart policy '{name}'")  # dockerd 20.10's
    retries = rp.get("MaximumRetryCount") or 0
    if retries < 0:
        raise errors.InvalidParameter(
            "invalid restart policy: maximum retry count can't be negative"
        )
    if retries and name != "on-failure":
        raise errors.InvalidParameter(
            "invalid restart policy: maximum retry count can only be used with 'on-failure'"
        )
    if hc.get("AutoRemove") and name not in ("", "no"):
        raise errors.InvalidParameter("can't create 'AutoRemove' container with restart policy")
    memory = hc.get("Memory") or 0
    if memory < 0 or 0 < memory < MIN_MEMORY:
        raise errors.InvalidParameter("Minimum memory limit allowed is 6MB")
    swap = hc.get("MemorySwap") or 0
    if memory and swap > 0 and swap < memory:
        raise errors.InvalidParameter(
            "Minimum memoryswap limit should be larger than memory limit, see usage"
        )
    nano = hc.get("NanoCpus") or 0
    if nano:
        if hc.get("CpuPeriod") or hc.get("CpuQuota"):
            raise errors.InvalidParameter(
                "Conflicting options: Nano CPUs and CPU Period cannot both be set"
                if hc.get("CpuPeriod")
                else "Conflicting options: Nano CPUs and CPU Quota cannot both be set"
            )
        ncpu = os.cpu_count() or 1
        if nano < 0 or nano > ncpu * 10**9:
            raise errors.InvalidParameter(
                f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
            )


def host_config(
    hc_in: dict[str, Any] | None,
    cgroupns: str = "host",
    log_default: tuple[str, dict[str, str]] = (logopts.JSON_FILE, {}),
) -> dict[str, Any]:
    """HostConfig with Docker's defaults filled in, as inspect shows them. `cgroupns` is the
    daemon's default cgroup namespace mode (private on a cgroup v2 host, host on v1);
    `log_default` the daemon's log driver and options (merged into LogConfig as dockerd does)."""
    hc = copy.deepcopy(hc_in or {})
    hc["LogConfig"] = logopts.merge(hc.get("LogConfig"), *log_default)
    validate_host_config(hc)
    hc["CgroupnsMode"] = hc.get("CgroupnsMode") or cgroupns
    defaults: dict[str, Any] = {
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
    for k, v in defaults.items():
        if hc.get(k) is None:
            hc[k] = copy.deepcopy(v)
    if not hc["RestartPolicy"].get("Name"):
        hc["RestartPolicy"] = {"Name": "no", "MaximumRetryCount": 0}
    if not hc.get("ShmSize"):
        hc["ShmSize"] = 67108864
    if hc.get("Memory") and not hc.get("MemorySwap"):
        hc["MemorySwap"] = hc["Memory"] * 2  # Docker's default: swap equal to memory
    return hc
