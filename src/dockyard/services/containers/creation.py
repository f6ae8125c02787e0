"""Creating containers (E4): validate the request, resolve the image, make the init + rw layers
and the per-container dir, prepare mounts, store the record; one Rollback, so a failure leaves
nothing half-made."""

from __future__ import annotations

import os
import secrets
import shutil

from dockyard import errors
from dockyard.core import timefmt
from dockyard.core.container import ContainerRecord, NetworkState
from dockyard.core.types import Json
from dockyard.crashpoints import crashpoint
from dockyard.network.modes import config_conflicts
from dockyard.network.views import endpoint_settings
from dockyard.rollback import Rollback
from dockyard.runtime import logopts
from dockyard.services.containers import goshape, names, record
from dockyard.services.containers.shared import ContainerShared


class Creation:
    def __init__(self, shared: ContainerShared) -> None:
        self.shared = shared
        self.repo = shared.repo
        self.layers = shared.layers
        self.images = shared.images
        self.launcher = shared.launcher

    def create(self, name: str | None, body: Json) -> Json:
        if not isinstance(body, dict) or not body:
            raise errors.InvalidParameter("Config cannot be empty in order to create a container")
        image_ref = body.get("Image") or ""
        if not image_ref:
            raise errors.InvalidParameter("No image specified")  # docker-cli never sends this
        cgroups = self.launcher.cgroups
        hc = record.host_config(
            body.get("HostConfig"),
            cgroups.default_cgroupns,
            (self.shared.cfg.log_driver, dict(self.shared.cfg.log_opts)),
            cgroups.features,
        )
        if name:
            name = names.validate(name)
        warnings = self.launcher.network.validate(hc, body.get("NetworkingConfig"))
        config_conflicts(body, hc)
        record.validate_healthcheck(body.get("Healthcheck"))
        record.validate_env(body.get("Env"))
        image = self.images.resolve(image_ref)
        cfg = record.merge_config(body, self.images.config(image.id).get("config") or {})
        self.launcher.mounts.validate(cfg, hc)
        cfg["Image"] = image_ref
        argv = record.command_of(cfg)
        if not argv:
            raise errors.InvalidParameter("No command specified")
        cid = secrets.token_hex(32)
        if not cfg.get("Hostname"):
            # Docker: a host-network container takes the host's name (N4).
            host_net = hc.get("NetworkMode") == "host"
            cfg["Hostname"] = os.uname().nodename if host_net else cid[:12]
        created = timefmt.rfc3339_fixed()
        doc: Json = {
            "Path": argv[0],
            "Args": argv[1:],
            "State": {
                "Status": "created",
                "Running": False,
                "Paused": False,
                "Restarting": False,
                "OOMKilled": False,
                "Dead": False,
                "Pid": 0,
                "ExitCode": 0,
                "Error": "",
                "StartedAt": timefmt.ZERO_TIME,
                "FinishedAt": timefmt.ZERO_TIME,
            },
            "Config": goshape.config(cfg),
            "HostConfig": goshape.host_config(hc),
            "Mounts": [],
            "NetworkSettings": _network_settings(hc, body.get("NetworkingConfig")),
        }
        with self.shared.create_lock, Rollback() as rb:
            if name is None:
                name = names.generate(self.repo.names())
            elif (other := self.repo.by_name(name)) is not None:
                raise errors.Conflict(
                    f'Conflict. The container name "/{name}" is already in use by container '
                    f'"{other.id}". You have to remove (or rename) that container to be able to '
                    "reuse that name."
                )
            rw = self.layers.create_rw(cid, self.images.top_layer(image.id))
            crashpoint("create.after-layer")
            rb.push(self.layers.remove_rw, cid)
            self.shared.container_dir(cid).mkdir(mode=0o710, parents=True)
            rb.push(shutil.rmtree, self.shared.container_dir(cid), True)
            rec = ContainerRecord(
                cid, name, created, image.id, doc, mount_id=rw.mount_id,
                log_path=logopts.log_file(
                    self.shared.container_dir(cid), cid, hc["LogConfig"]["Type"]
                ),
                # the wanted endpoints (N5): network connect/disconnect edit them
                net=NetworkState(wanted=dict(_endpoints_config(body))),
            )  # fmt: skip
            doc["Mounts"] = self._prepare_mounts(rec)
            rb.push(self.launcher.mounts.release, rec, True)
            with self.repo.db.tx() as c:
                self.repo.insert(c, rec)
            rb.commit()
        self.shared.publish(rec, "create")
        crashpoint("create.after-record")
        return {"Id": cid, "Warnings": warnings}

    def _prepare_mounts(self, rec: ContainerRecord) -> list[Json]:
        hc = rec.host_config
        if not (
            hc.get("Binds")
            or hc.get("Mounts")
            or hc.get("Tmpfs")
            or hc.get("VolumesFrom")
            or rec.config.get("Volumes")
        ):
            return []  # nothing to mount: spare the rootfs mount on the create path
        rootfs = self.layers.mount(rec.id)
        try:
            return self.launcher.mounts.prepare(rec, rootfs)
        finally:
            self.layers.unmount(rec.id)


def _network_settings(hc: Json, networking: Json | None = None) -> Json:
    mode = hc.get("NetworkMode") or "default"
    # a created container lists its wanted networks with what was configured for each, no
    # NetworkID yet, as dockerd (compose reads them before connecting)
    given = (networking or {}).get("EndpointsConfig") or {}
    wanted = {
        name: endpoint_settings("", ep)
        for name, ep in given.items()
        if name not in ("default", "bridge", "host", "none")
    }
    if not mode.startswith("container:"):
        own = "bridge" if mode == "default" else mode
        wanted = {own: endpoint_settings("", given.get(mode) or given.get(own)), **wanted}
    return {
        "Bridge": "",
        "SandboxID": "",
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Ports": {},
        "SandboxKey": "",
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        "EndpointID": "",
        "Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "MacAddress": "",
        "Networks": wanted,
    }


def _endpoints_config(body: Json) -> Json:
    return ((body.get("NetworkingConfig") or {}).get("EndpointsConfig")) or {}
