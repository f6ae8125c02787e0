"""`/info`, `/version`, `/system/df`: what the engine says about itself and its disk use (S5)."""

from __future__ import annotations

import os
import platform
from datetime import datetime
from pathlib import Path
from typing import Any

from dockyard.config import API_VERSION, ENGINE_VERSION, MIN_API_VERSION, Config
from dockyard.services.protocols import Json


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


class System:
    def __init__(
        self, cfg: Config, containers: Any, images: Any, layers: Any, volumes: Any = None
    ) -> None:
        self.cfg = cfg
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

    def info(self) -> Json:
        recs = self.containers.repo.all()
        states = [r.state["Status"] for r in recs]
        uname = os.uname()
        mem = 0
        try:
            with open("/proc/meminfo") as f:
                mem = int(f.readline().split()[1]) * 1024
        except OSError:
            pass
        return {
            "ID": self.cfg.data_root.name,
            "Containers": len(recs),
            "ContainersRunning": states.count("running"),
            "ContainersPaused": states.count("paused"),
            "ContainersStopped": len(recs) - states.count("running") - states.count("paused"),
            "Images": len(self.images.list(False, {}, False)),
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
            "OomKillDisable": True,
            "NGoroutines": 0,
            "SystemTime": datetime.now().astimezone().isoformat(),
            "LoggingDriver": "json-file",
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": "1",
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
            "Swarm": {
                "LocalNodeState": "inactive",
                "ControlAvailable": False,
                "NodeID": "",
                "NodeAddr": "",
                "Error": "",
                "RemoteManagers": None,
            },  # fmt: skip
            "LiveRestoreEnabled": True,
            "Isolation": "",
            "InitBinary": "",
            "ContainerdCommit": {"ID": ""},
            "RuncCommit": {"ID": self._runc()},
            "InitCommit": {"ID": ""},
            "SecurityOptions": [],
            "Warnings": None,
        }

    def df(self) -> Json:
        """S5: images with shared/unique sizes (a layer used by two images is shared and counted
        once in LayersSize), containers with SizeRw, volumes with {Size, RefCount}."""
        images = self.images.list(False, {}, False)
        containers = self.containers.list(True, 0, True, {})
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
            "Volumes": self.volumes.usage() if self.volumes is not None else [],
            "BuildCache": [],
        }


def _os_name() -> str:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return "Linux"
    for line in text.splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return "Linux"
