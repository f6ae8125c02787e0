"""`system check` of the containers (R1, #17): each record against its writable layer, its
mount and what runc and the cgroup freezer say.

`runtime_problem` is the pure rule, from the record's status and runc's and the freezer's
answers; `ContainerCheck` reads those (one `runc list` for all) and repairs through the
supervisor's own start-up steps: settle_freezer (thaw a running container left frozen, record
running a paused one the freezer does not hold) and record_gone (a container whose process
and shim are gone is recorded exited)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.core.container import ContainerRecord
from dockyard.core.findings import Finding
from dockyard.services.containers.shared import ContainerShared
from dockyard.services.containers.supervision import Supervision
from dockyard.storage import mount

log = logging.getLogger(__name__)

CONTAINER = "container"
MOUNT = "mount"
ORPHAN = "container layer"
ORPHAN_DIR = "container directory"
LIVE = ("running", "paused")
FROZEN_RUNNING = "frozen while recorded running"
NOT_FROZEN = "recorded paused but not frozen"
GONE_END = "but its process is gone"
GONE = "recorded {st} " + GONE_END


def repairable(problem: str) -> bool:
    return problem in (FROZEN_RUNNING, NOT_FROZEN) or problem.endswith(GONE_END)


def runtime_problem(status: str, runc_status: str | None, frozen: bool, shim: bool) -> str:
    """What is wrong between the record (`status`), runc (`runc_status`, None when runc does
    not know it) and the freezer; "" when they agree. A container whose shim still runs but
    whose process stopped is being recorded by its exit watcher: no problem yet."""
    if status in LIVE and runc_status in (None, "stopped") and not shim:
        return GONE.format(st=status)
    if status == "running" and (frozen or runc_status == "paused"):
        return FROZEN_RUNNING
    if status == "paused" and runc_status == "running" and not frozen:
        return NOT_FROZEN
    if status not in (*LIVE, "restarting", "removing") and runc_status in LIVE:
        return f"recorded {status} but runc runs it"
    return ""


class ContainerCheck:
    def __init__(self, shared: ContainerShared, supervision: Supervision) -> None:
        self.shared = shared
        self.supervision = supervision

    def _runc_states(self) -> dict[str, str]:
        listed: list[dict[str, Any]] = self.shared.launcher.runc.list() or []
        return {str(c.get("id")): str(c.get("status")) for c in listed}

    def _orphans(self, repair: bool) -> list[Finding]:
        with self.shared.create_lock:
            layers, dirs = self.shared.orphans()
            out = [Finding(ORPHAN, cid, "no container record names it", True, repair)
                   for cid in layers]  # fmt: skip
            out += [Finding(ORPHAN_DIR, self.shared.container_dir(d).as_posix(),
                            "no container record names it", True, repair) for d in dirs]  # fmt: skip
            if repair:
                self.shared.remove_orphans(layers, dirs)
        return out

    def check(self, repair: bool) -> list[Finding]:
        out = self._orphans(repair)
        states = self._runc_states()
        for rec in self.shared.repo.all():
            out += self._layer(rec)
            problem = self._runtime(rec, states)
            if problem:
                f = Finding(CONTAINER, rec.id, problem, repairable=repairable(problem))
                if repair and f.repairable:
                    f.repaired = self._repair(rec.id, problem)
                out.append(f)
        return out

    def _runtime(self, rec: ContainerRecord, states: dict[str, str]) -> str:
        st = str(rec.state["Status"])
        pid = rec.run.shim_pid
        shim = pid is not None and pid > 0 and self.shared.launcher.shim_alive(rec, pid)
        frozen = self.shared.launcher.cgroups.frozen(rec.id)
        return runtime_problem(st, states.get(rec.id), frozen, shim)

    def _layer(self, rec: ContainerRecord) -> list[Finding]:
        layers = self.shared.layers
        try:
            data = layers.rw_graph_driver(rec.id)["Data"]
        except errors.NotFound:
            return [Finding(MOUNT, rec.id, "its writable layer does not exist")]
        assert isinstance(data, dict)
        merged = Path(str(data["MergedDir"]))
        if not Path(str(data["UpperDir"])).is_dir():
            return [Finding(MOUNT, rec.id, "its writable layer's directory is missing")]
        if rec.state["Status"] in LIVE and not mount.is_mounted(merged):
            return [Finding(MOUNT, rec.id, f"recorded {rec.state['Status']}, rootfs not mounted")]
        return []

    def _repair(self, cid: str, problem: str) -> bool:
        with self.shared.lock(cid):
            rec = self.shared.repo.get(cid)
            if rec is None:
                return True  # removed meanwhile
            if problem.endswith(GONE_END):
                self.supervision.record_gone(rec)
                self.shared.publish(rec, "die", exitCode=str(rec.state["ExitCode"]))
                return True
            self.supervision.settle_freezer(rec)
            return not self.shared.launcher.cgroups.frozen(cid) or rec.state["Status"] == "paused"
