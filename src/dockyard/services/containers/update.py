"""`docker update` (E4): new resource limits and restart policy for a container, as dockerd 20.10
(daemon/update.go, container.UpdateContainer).

The request is checked first (400, Docker's words, warnings for what the host cannot apply),
then under the container's lock merged into HostConfig (a zero leaves a value as it is; the
conflicts dockerd refuses are 409s), applied to the live cgroup of a running or paused container
through `runc update` (a refusal, e.g. a limit below what the container uses, is a 500 and puts
HostConfig back), saved, and announced with an `update` event. A stopped container gets the new
limits in its spec at its next start, a re-adopted one keeps them in its cgroup: HostConfig is
the one place they live."""

from __future__ import annotations

import copy
from typing import Any

from dockyard import errors
from dockyard.core.types import Json
from dockyard.runtime.resources import update_resources
from dockyard.services.containers import limits, record
from dockyard.services.containers.shared import ContainerShared, running

# What a non-zero value in the request replaces (PidsLimit: any value that is present).
_REPLACED = ("BlkioWeight", "CpuShares", "NanoCpus", "CpuPeriod", "CpuQuota", "CpusetCpus",
             "CpusetMems", "MemorySwap", "MemoryReservation", "KernelMemory",
             "CpuRealtimePeriod", "CpuRealtimeRuntime")  # fmt: skip


class Update:
    def __init__(self, shared: ContainerShared) -> None:
        self.shared = shared
        self.repo = shared.repo
        self.launcher = shared.launcher

    def update(self, ref: str, body: Json) -> Json:
        rec = self.shared.get(ref)
        limits.check_types(body, "UpdateConfig")
        res: Json = {k: body[k] for k in (*limits.INT_FIELDS, *limits.STR_FIELDS) if k in body}
        if res.get("PidsLimit") is not None and int(res["PidsLimit"]) <= 0:
            res["PidsLimit"] = 0  # 0 and -1 both lift the limit
        policy = body.get("RestartPolicy") or {}
        if not isinstance(policy, dict):
            raise errors.InvalidParameter(
                "json: cannot unmarshal value into Go struct field UpdateConfig.RestartPolicy "
                "of type container.RestartPolicy"
            )
        record.check_restart_policy(policy)
        warnings = limits.check(res, self.launcher.cgroups.features, update=True)
        with self.shared.lock(rec.id):
            rec = self.shared.get(rec.id)
            if rec.state["Status"] in ("removing", "dead"):
                raise errors.System(
                    f"Cannot update container {rec.id}: container is marked for removal and "
                    'cannot be "update"'
                )
            hc = rec.host_config
            before = copy.deepcopy(hc)
            try:
                merge(hc, res, policy)
                if running(rec):
                    self.launcher.runc.update(rec.id, update_resources(res))
            except errors.DockyardError as e:
                rec.doc["HostConfig"] = before  # nothing was saved: the record stays as it was
                kind = errors.Conflict if isinstance(e, errors.Conflict) else errors.System
                raise kind(f"Cannot update container {rec.id}: {e.message}") from None
            self.repo.save(rec)
        self.shared.publish(rec, "update")
        return {"Warnings": warnings or None}


def merge(hc: dict[str, Any], res: Json, policy: Json) -> None:
    """container.UpdateContainer: refuse the conflicts, then take each value the request sets."""
    if res.get("NanoCpus", 0) > 0 and hc.get("CpuPeriod", 0) > 0:
        raise _conflict("Nano CPUs cannot be updated as CPU Period has already been set")
    if res.get("NanoCpus", 0) > 0 and hc.get("CpuQuota", 0) > 0:
        raise _conflict("Nano CPUs cannot be updated as CPU Quota has already been set")
    if res.get("CpuPeriod", 0) > 0 and hc.get("NanoCpus", 0) > 0:
        raise _conflict("CPU Period cannot be updated as NanoCPUs has already been set")
    if res.get("CpuQuota", 0) > 0 and hc.get("NanoCpus", 0) > 0:
        raise _conflict("CPU Quota cannot be updated as NanoCPUs has already been set")
    memory = int(res.get("Memory") or 0)
    if memory and memory > int(hc.get("MemorySwap") or 0) and not res.get("MemorySwap"):
        raise errors.Conflict(
            "Memory limit should be smaller than already set memoryswap limit, update the "
            "memoryswap at the same time"
        )
    if memory:
        hc["Memory"] = memory
    for key in _REPLACED:
        if res.get(key):
            hc[key] = res[key]
    if res.get("PidsLimit") is not None:
        hc["PidsLimit"] = res["PidsLimit"]
    name = policy.get("Name") or ""
    if name:
        if hc.get("AutoRemove") and name != "no":
            raise errors.Conflict(
                "Restart policy cannot be updated because AutoRemove is enabled for the container"
            )
        retries = policy.get("MaximumRetryCount") or 0
        hc["RestartPolicy"] = {"Name": name, "MaximumRetryCount": retries}


def _conflict(what: str) -> errors.Conflict:
    return errors.Conflict(f"Conflicting options: {what}")
