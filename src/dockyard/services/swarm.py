"""Swarm mode on one node (D-dpy6-2): `swarm init` makes this node the one manager and leader of
a swarm that exists for its networks (the `overlay` driver, swarm scope, the `ingress` network);
`leave --force` ends it and removes its networks. The swarm is a small JSON document under the
data root, so it outlives a daemon restart. Services, tasks, secrets and configs are not
implemented: the API answers them 501 on a manager (api/swarm.py)."""

from __future__ import annotations

import json
import logging
import os
import platform
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.config import ENGINE_VERSION
from dockyard.core.types import Json
from dockyard.services.system import host_memory

log = logging.getLogger(__name__)

NOT_IN_SWARM = "This node is not part of a swarm"
ALREADY_IN_SWARM = (
    'This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and '
    "join another one."
)
LEAVE_AS_MANAGER = (
    "You are attempting to leave the swarm on a node that is participating as a manager. "
    "Removing the last manager erases all current state of the swarm. Use `--force` to ignore "
    "this message. "
)
NOT_A_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to '
    "connect this node to swarm and try again."
)
DEFAULT_POOL = "10.0.0.0/8"
PORT = 2377  # the swarm's listen port when the address gives none

_ALNUM = "0123456789abcdefghijklmnopqrstuvwxyz"


def _id(n: int = 25) -> str:
    """A swarmkit-style identifier: lowercase base-36."""
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


def _token() -> str:
    return f"SWMTKN-1-{_id(50)}-{_id(25)}"


def default_spec() -> Json:
    """dockerd 20.10's swarm spec defaults."""
    return {
        "Name": "default",
        "Labels": {},
        "Orchestration": {"TaskHistoryRetentionLimit": 5},
        "Raft": {
            "SnapshotInterval": 10000,
            "KeepOldSnapshots": 0,
            "LogEntriesForSlowFollowers": 500,
            "ElectionTick": 10,
            "HeartbeatTick": 1,
        },
        "Dispatcher": {"HeartbeatPeriod": 5000000000},
        "CAConfig": {"NodeCertExpiry": 7776000000000000},
        "TaskDefaults": {},
        "EncryptionConfig": {"AutoLockManagers": False},
    }


def _merge(base: Json, given: Json) -> Json:
    out = dict(base)
    for k, v in given.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        elif v not in (None, "", 0) or k not in out:
            out[k] = v
    return out


def _host_port(addr: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep:
        return addr, PORT
    if not port.isdigit():
        raise errors.InvalidParameter(f'invalid ListenAddr "{addr}": invalid port')
    return host.strip("[]"), int(port)


class NetworkOps:
    """What the swarm asks of the network service."""

    def __init__(self, networks: Any) -> None:
        self._n = networks

    def create(self, body: Json) -> Json:
        return dict(self._n.create(body))

    def swarm_scoped(self) -> list[Json]:
        return [n for n in self._n.list({"scope": ["swarm"]})]

    def drop(self, net_id: str) -> None:
        """Disconnect every container (forced), then remove the network."""
        for cid in self._n.inspect(net_id).get("Containers") or {}:
            try:
                self._n.disconnect(net_id, {"Container": cid, "Force": True})
            except errors.DockyardError as e:
                log.warning("leaving the swarm: disconnecting %s: %s", cid[:12], e)
        self._n.remove(net_id)


class Swarm:
    def __init__(
        self,
        path: Path,
        networks: NetworkOps,
        now: Callable[[], str],
        default_addr: Callable[[], str],
    ) -> None:
        self._path = path
        self._networks = networks
        self._now = now
        self._default_addr = default_addr
        self._lock = threading.Lock()
        self._doc: Json | None = None
        try:
            self._doc = json.loads(path.read_text())
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as e:
            log.warning("swarm state %s unreadable, not in a swarm: %s", path, e)

    def active(self) -> bool:
        return self._doc is not None

    def _save(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._doc))
        os.replace(tmp, self._path)

    def _need(self) -> Json:
        if self._doc is None:
            raise errors.Unavailable(NOT_A_MANAGER)
        return self._doc

    # ---- init, leave ------------------------------------------------------------------------

    def init(self, body: Json) -> str:
        listen = str(body.get("ListenAddr") or "")
        if not listen:
            raise errors.InvalidParameter('invalid ListenAddr "": invalid empty address')
        with self._lock:
            if self._doc is not None:
                raise errors.Unavailable(ALREADY_IN_SWARM)
            host, port = _host_port(listen)
            advertise = str(body.get("AdvertiseAddr") or "")
            addr = _host_port(advertise)[0] if advertise else ""
            if not addr:
                addr = host if host not in ("", "0.0.0.0", "::") else self._default_addr()
            now = self._now()
            pools = list(body.get("DefaultAddrPool") or []) or [DEFAULT_POOL]
            self._doc = {
                "ID": _id(),
                "Version": {"Index": 10},
                "CreatedAt": now,
                "UpdatedAt": now,
                "Spec": _merge(default_spec(), body.get("Spec") or {}),
                "TLSInfo": {"TrustRoot": "", "CertIssuerSubject": "", "CertIssuerPublicKey": ""},
                "RootRotationInProgress": False,
                "DefaultAddrPool": pools,
                "SubnetSize": int(body.get("SubnetSize") or 24),
                "DataPathPort": int(body.get("DataPathPort") or 4789),
                "JoinTokens": {"Worker": _token(), "Manager": _token()},
                "Node": {"ID": _id(), "Addr": addr, "Port": port, "CreatedAt": now},
            }
            try:  # dockerd's init makes the routing mesh's network
                self._networks.create({"Name": "ingress", "Driver": "overlay", "Ingress": True,
                                       "CheckDuplicate": True})  # fmt: skip
            except BaseException:
                self._doc = None
                raise
            self._save()
            return str(self._doc["Node"]["ID"])

    def leave(self, force: bool) -> None:
        with self._lock:
            if self._doc is None:
                raise errors.Unavailable(NOT_IN_SWARM)
            if not force:
                raise errors.Unavailable(LEAVE_AS_MANAGER)
            for net in self._networks.swarm_scoped():
                self._networks.drop(net["Id"])
            self._doc = None
            self._path.unlink(missing_ok=True)

    # ---- views ------------------------------------------------------------------------------

    def inspect(self) -> Json:
        doc = self._need()
        return {k: v for k, v in doc.items() if k != "Node"}

    def cluster(self) -> Json:
        """The swarm as /info shows it: no join tokens."""
        return {k: v for k, v in self.inspect().items() if k != "JoinTokens"}

    def nodes(self) -> list[Json]:
        return [self.node(self._need()["Node"]["ID"])]

    def node(self, ref: str) -> Json:
        doc = self._need()
        me = doc["Node"]
        hostname = platform.node()
        if ref not in (me["ID"], hostname) and not (ref and me["ID"].startswith(ref)):
            raise errors.NotFound(f"node {ref} not found")
        return {
            "ID": me["ID"],
            "Version": {"Index": 9},
            "CreatedAt": me["CreatedAt"],
            "UpdatedAt": me["CreatedAt"],
            "Spec": {"Labels": {}, "Role": "manager", "Availability": "active"},
            "Description": {
                "Hostname": hostname,
                "Platform": {"Architecture": platform.machine(), "OS": "linux"},
                "Resources": {
                    "NanoCPUs": (os.cpu_count() or 1) * 10**9,
                    "MemoryBytes": host_memory(),
                },
                "Engine": {
                    "EngineVersion": ENGINE_VERSION,
                    "Plugins": [
                        {"Type": "Network", "Name": n}
                        for n in ("bridge", "host", "null", "overlay")
                    ],
                },  # fmt: skip
                "TLSInfo": doc["TLSInfo"],
            },
            "Status": {"State": "ready", "Addr": me["Addr"]},
            "ManagerStatus": {
                "Leader": True,
                "Reachability": "reachable",
                "Addr": f"{me['Addr']}:{me['Port']}",
            },
        }

    def info(self) -> Json:
        """`Swarm` of GET /info."""
        if self._doc is None:
            return {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive",
                    "ControlAvailable": False, "Error": "", "RemoteManagers": None}  # fmt: skip
        me = self._doc["Node"]
        return {
            "NodeID": me["ID"],
            "NodeAddr": me["Addr"],
            "LocalNodeState": "active",
            "ControlAvailable": True,
            "Error": "",
            "RemoteManagers": [{"NodeID": me["ID"], "Addr": f"{me['Addr']}:{me['Port']}"}],
            "Nodes": 1,
            "Managers": 1,
            "Cluster": self.cluster(),
        }
