"""`/info`, `/version`, `/system/df`: what the engine says about itself and its disk use (S5)."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Hashable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from dockyard import errors
from dockyard.config import API_VERSION, ENGINE_VERSION, MIN_API_VERSION, Config
from dockyard.core.container import ContainerRecord
from dockyard.core.types import Filters, Json
from dockyard.distribution.endpoints import RegistryOptions
from dockyard.runtime.cgroups import CgroupHost
from dockyard.services.containers import status
from dockyard.services.volumes import Volumes
from dockyard.state.containers import ContainerRepo
from dockyard.state.images import ImageRecord
from dockyard.storage.protocols import LayerStore


def _runc_version() -> str:
    import subprocess

    try:
        out = subprocess.run(["runc", "--version"], capture_output=True, text=True, check=False)
        for line in out.stdout.splitlines():
            if line.startswith("commit:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


class Images(Protocol):
    """What `info` and `system df` ask of the image service."""

    def list(self, all: bool, filters: Filters, digests: bool) -> list[Json]: ...
    def get(self, image_id: str) -> ImageRecord: ...
    def top_layer(self, image_id: str) -> str | None: ...


def host_memory() -> int:
    """MemTotal in bytes (0 when /proc/meminfo cannot be read)."""
    try:
        with open("/proc/meminfo") as f:
            return int(f.readline().split()[1]) * 1024
    except OSError:
        return 0


def _no_swarm() -> Json:
    return {"LocalNodeState": "inactive", "ControlAvailable": False, "NodeID": "", "NodeAddr": "",
            "Error": "", "RemoteManagers": None}  # fmt: skip


class System:
    def __init__(
        self,
        cfg: Config,
        containers: ContainerRepo,
        images: Images,
        layers: LayerStore,
        volumes: Volumes | None = None,
        cgroups: CgroupHost | None = None,
    ) -> None:
        self.cfg = cfg
        self.swarm_info: Callable[[], Json] = _no_swarm  # the swarm service's, set by engine.py
        self.cgroups = cgroups or CgroupHost.detect([])
        self.containers = containers
        self.images = images
        self.layers = layers
        self.volumes = volumes
        self._runc_commit: str | None = None

    def version(self) -> Json:
        uname = os.uname()
        return {
            "Platform": {"Name": "dockyard"},
            "Components": [
                {
                    "Name": "Engine",
                    "Version": ENGINE_VERSION,
                    "Details": {
                        "ApiVersion": API_VERSION,
                        "Arch": "amd64",
                        "BuildTime": "",
                        "Experimental": "false",
                        "GitCommit": "",
                        "GoVersion": "python" + platform.python_version(),
                        "KernelVersion": uname.release,
                        "MinAPIVersion": MIN_API_VERSION,
                        "Os": "linux",
                    },
                },
                {"Name": "runc", "Version": self._runc(), "Details": {"GitCommit": ""}},
            ],
            "Version": ENGINE_VERSION,
            "ApiVersion": API_VERSION,
            "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": "",
            "GoVersion": "python" + platform.python_version(),
            "Os": "linux",
            "Arch": "amd64",
            "KernelVersion": uname.release,
            "BuildTime": "",
        }

    def _runc(self) -> str:
        if self._runc_commit is None:
            self._runc_commit = _runc_version()
        return self._runc_commit

    def info_id(self) -> str:
        """The daemon's ID in /info (and the Actor of its daemon events)."""
        return self.cfg.data_root.name

    def reload_attributes(self, debug: bool, registry: RegistryOptions) -> dict[str, str]:
        """The `reload` daemon event's attributes: dockerd 20.10's keys, in Go's formatting of
        the values, from this daemon's settings after the reload (D-dpy6-3)."""
        user_insecure = [c for c in registry.insecure if c != "127.0.0.0/8"]
        return {
            "allow-nondistributable-artifacts": "[]",
            "cluster-advertise": "",
            "cluster-store": "",
            "cluster-store-opts": "{}",
            "debug": "true" if debug else "false",
            "default-cgroupns-mode": "private" if self.cgroups.version == 2 else "host",
            "default-ipc-mode": "private",
            "default-runtime": "runc",
            "default-shm-size": "67108864",
            "features": "map[]",
            "insecure-registries": "[" + " ".join(user_insecure) + "]",
            "labels": "[]",
            "live-restore": "true",  # containers outlive the daemon (LiveRestoreEnabled)
            "max-concurrent-downloads": str(registry.max_concurrent_downloads),
            "max-concurrent-uploads": str(registry.max_concurrent_uploads),
            "max-download-attempts": str(registry.max_download_attempts),
            "name": os.uname().nodename,
            "registry-mirrors": "[" + " ".join(registry.mirrors) + "]",
            "runtimes": "runc:runc",
            "shutdown-timeout": "15",
        }

    def info(self) -> Json:
        recs = self.containers.all()
        states = [r.state["Status"] for r in recs]
        uname = os.uname()
        mem = host_memory()
        return {
            "ID": self.info_id(),
            "Containers": len(recs),
            "ContainersRunning": states.count("running"),
            "ContainersPaused": states.count("paused"),
            "ContainersStopped": len(recs) - states.count("running") - states.count("paused"),
            "Images": len(
                self.images.list(True, {}, False)
            ),  # intermediates too, as dockerd counts
            "Driver": "overlay2",
            "DriverStatus": [
                ["Backing Filesystem", "extfs"],
                ["Supports d_type", "true"],
                ["Native Overlay Diff", "true"],
                ["userxattr", "false"],
            ],
            "Plugins": {
                "Volume": ["local"],
                "Network": ["bridge", "host", "null"],
                "Authorization": None,
                "Log": ["json-file"],
            },
            "MemoryLimit": True,
            "SwapLimit": True,
            "CpuCfsPeriod": True,
            "CpuCfsQuota": True,
            "CPUShares": True,
            "CPUSet": True,
            "PidsLimit": True,
            "IPv4Forwarding": True,
            "Debug": self.cfg.log_level == "debug",
            "NFd": len(os.listdir("/proc/self/fd")),
            "OomKillDisable": self.cgroups.version == 1,  # v2 has no memory.oom_control
            "NGoroutines": 0,
            "SystemTime": datetime.now().astimezone().isoformat(),
            "LoggingDriver": "json-file",
            "CgroupDriver": self.cgroups.driver,
            "CgroupVersion": str(self.cgroups.version),
            "NEventsListener": 0,
            "KernelVersion": uname.release,
            "OperatingSystem": _os_name(),
            "OSVersion": "",
            "OSType": "linux",
            "Architecture": uname.machine,
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": {"IndexConfigs": {}, "InsecureRegistryCIDRs": ["127.0.0.0/8"]},
            "NCPU": os.cpu_count() or 1,
            "MemTotal": mem,
            "DockerRootDir": str(self.cfg.data_root),
            "HttpProxy": "",
            "HttpsProxy": "",
            "NoProxy": "",
            "Name": uname.nodename,
            "Labels": [],
            "ExperimentalBuild": False,
            "ServerVersion": ENGINE_VERSION,
            "Runtimes": {"runc": {"path": "runc"}},
            "DefaultRuntime": "runc",
            "Swarm": self.swarm_info(),
            "LiveRestoreEnabled": True,
            "Isolation": "",
            "InitBinary": "",
            "ContainerdCommit": {"ID": ""},
            "RuncCommit": {"ID": self._runc()},
            "InitCommit": {"ID": ""},
            "SecurityOptions": ["name=seccomp,profile=builtin"]
            + (["name=cgroupns"] if self.cgroups.default_cgroupns == "private" else []),
            "Warnings": None,
        }

    def df(self) -> Json:
        """S5: images with shared/unique sizes (a layer used by two images is shared and counted
        once in LayersSize), containers with SizeRw, volumes with {Size, RefCount}. Trees that
        cannot have changed since the last call are not walked again (storage/usage.py)."""
        images = self.images.list(False, {}, False)
        recs = self.containers.all()
        containers = self._container_rows(recs)
        users: dict[str, int] = {}
        for c in containers:
            users[c.get("ImageID", "")] = users.get(c.get("ImageID", ""), 0) + 1
        chains: dict[str, list[Any]] = {}
        layer_images: dict[str, int] = {}  # chain id -> number of images holding it
        unique: dict[str, int] = {}
        for img in images:
            top = self.images.get(img["Id"]).top_chain_id
            chain = self.layers.chain(top) if top else []
            chains[img["Id"]] = chain
            for layer in chain:
                layer_images[layer.chain_id] = layer_images.get(layer.chain_id, 0) + 1
                unique[layer.chain_id] = layer.size
        for img in images:
            img["Containers"] = users.get(img["Id"], 0)
            img["SharedSize"] = sum(
                layer.size for layer in chains[img["Id"]] if layer_images[layer.chain_id] > 1
            )
        return {
            "LayersSize": sum(unique.values()),
            "Images": images,
            "Containers": containers,
            "Volumes": self._volume_rows(recs),
            "BuildCache": [],
        }

    def _container_rows(self, recs: list[ContainerRecord]) -> list[Json]:
        now = time.time()
        bases: dict[str, int] = {}  # image id -> size of its layers
        rows: list[Json] = []
        for r in recs:
            row = status.summary(r, r.config.get("Image", ""), now)
            try:
                rw = self.layers.rw_size(r.id, size_stamp(r))
            except errors.NotFound:
                continue  # removed while we listed
            if r.image_id not in bases:
                top = self.images.top_layer(r.image_id)
                bases[r.image_id] = sum(x.size for x in self.layers.chain(top)) if top else 0
            row["SizeRw"], row["SizeRootFs"] = rw, bases[r.image_id] + rw
            rows.append(row)
        return rows

    def _volume_rows(self, recs: list[ContainerRecord]) -> list[Json]:
        volumes = self.volumes
        if volumes is None:
            return []
        by_id = {r.id: r for r in recs}

        def stamp(name: str) -> Hashable | None:
            """None while a running container may write to the volume; else what changes when
            one of its users runs again or a new user is created (and may populate it)."""
            users = [by_id.get(cid) for cid in volumes.store.users_of(name)]
            stamps = [size_stamp(u) if u is not None else None for u in users]
            if any(s is None for s in stamps):
                return None
            return tuple(sorted((u.id, s) for u, s in zip(users, stamps, strict=True) if u))

        rows: list[Json] = volumes.usage(stamp)
        return rows


def size_stamp(rec: ContainerRecord) -> Hashable | None:
    """What changes whenever the container may have written to its trees: None while it runs,
    else its last start (cp into a stopped container calls usage.SIZES.forget_all())."""
    if rec.state.get("Status") in ("running", "paused", "restarting", "removing"):
        return None
    return (rec.state.get("StartedAt"), rec.state.get("FinishedAt"))


def _os_name() -> str:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return "Linux"
    for line in text.splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return "Linux"
