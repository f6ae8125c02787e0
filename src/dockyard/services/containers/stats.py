"""`GET /containers/{id}/stats` (E6): samples of a container's cgroup counters
(runtime/cgroupstats.py) and interface counters (the network service, through InterfaceStats),
in dockerd's JSON.

stream: one sample a second for as long as the client reads, each with the previous one as
`precpu_stats`/`preread` (the first with the last sample anyone took of the container, when it
is recent, else zeroed as dockerd's). stream=false: one sample whose `precpu_stats` is real:
the container's last sample when it is between GAP and MAX_AGE old, else a sample taken GAP
before (D-stats-1: dockerd waits for its collector's next tick, a second). one-shot: one sample,
no precpu, at once. A container that is not running answers dockerd's zeroed sample.
Records are read as shared views (ContainerShared.view): `stats --no-stream` over N containers
holds N requests at once, and each decoding its own copy made the daemon's peak heap (#17).

Nothing runs for a container nobody asks about: the cache holds the last sample per container
(a few hundred bytes) and drops what is older than MAX_AGE when it is next written."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from dockyard import errors, heap
from dockyard.core.container import ContainerRecord
from dockyard.core.timefmt import ZERO_TIME, rfc3339nano
from dockyard.core.types import Json
from dockyard.runtime import cgroupstats
from dockyard.runtime.cgroups import CgroupHost
from dockyard.services.containers.shared import ContainerShared, running

GAP = 0.2  # seconds between the two samples of a stream=false answer with nothing cached
MAX_AGE = 10.0  # a cached sample older than this is not a useful "previous" one
INTERVAL = 1.0  # the stream's period, as dockerd's collector


class InterfaceStats(Protocol):
    """What stats asks of the network service (network/service.py implements it)."""

    def interface_stats(self, rec: ContainerRecord) -> dict[str, Json]: ...


def zero_cpu() -> Json:
    return {
        "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    }


def zeroed(rec: ContainerRecord) -> Json:
    """dockerd's answer for a container that is not running: Go's zero StatsJSON."""
    return {
        "read": ZERO_TIME,
        "preread": ZERO_TIME,
        "pids_stats": {},
        "blkio_stats": cgroupstats.empty_blkio(),
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": zero_cpu(),
        "precpu_stats": zero_cpu(),
        "memory_stats": {},
        "name": "/" + rec.name,
        "id": rec.id,
    }


def _nonzero(doc: Json, keys: tuple[str, ...]) -> Json:
    """Go's `omitempty` over the named keys, in that order."""
    return {k: doc[k] for k in keys if doc.get(k)}


@dataclass
class Sample:
    doc: Json
    taken: float  # time.monotonic()


class Stats:
    def __init__(
        self, shared: ContainerShared, cgroups: CgroupHost, network: InterfaceStats | None
    ) -> None:
        self.shared = shared
        self.cgroups = cgroups
        self.network = network
        self.machine_memory = cgroupstats.machine_memory()
        self.last: dict[str, Sample] = {}
        self._swept = time.monotonic()
        heap.on_idle(self.release_idle)

    def release_idle(self) -> None:
        """The samples no "previous" needs any more (removed containers' included) are dropped
        while the daemon idles too, not only at the next sample's sweep (heap.on_idle)."""
        self._drop_stale(time.monotonic())

    def _drop_stale(self, now: float) -> None:
        # a new dict: the old one's table, sized for the busiest moment, goes with it
        self.last = {k: s for k, s in list(self.last.items()) if now - s.taken <= MAX_AGE}

    # ---- one sample (blocking: file reads, run on a worker thread) -----------------------------

    def sample(self, rec: ContainerRecord) -> Sample | None:
        """The container's counters now, or None when it has no cgroup (not running)."""
        try:
            cg = cgroupstats.read(self.cgroups, rec.id, self.machine_memory)
        except cgroupstats.NotRunning:
            return None
        system, online = cgroupstats.host_cpu()
        taken = time.monotonic()
        cpu = cg["cpu_stats"]
        cpu_stats: Json = {"cpu_usage": cpu["cpu_usage"]}
        cpu_stats.update(_nonzero({"system_cpu_usage": system, "online_cpus": online},
                                  ("system_cpu_usage", "online_cpus")))  # fmt: skip
        cpu_stats["throttling_data"] = cpu["throttling_data"]
        doc: Json = {
            "read": rfc3339nano(),
            "preread": ZERO_TIME,
            "pids_stats": _nonzero(cg["pids_stats"], ("current", "limit")),
            "blkio_stats": cg["blkio_stats"],
            "num_procs": 0,
            "storage_stats": {},
            "cpu_stats": cpu_stats,
            "precpu_stats": zero_cpu(),
            "memory_stats": _nonzero(
                cg["memory_stats"], ("usage", "max_usage", "stats", "failcnt", "limit")
            ),
            "name": "/" + rec.name,
            "id": rec.id,
        }
        if self.network is not None:
            networks = self.network.interface_stats(rec)
            if networks:
                doc["networks"] = networks
        return Sample(doc, taken)

    def _remember(self, cid: str, sample: Sample) -> None:
        self.last[cid] = sample
        if sample.taken - self._swept > MAX_AGE:
            self._swept = sample.taken
            self._drop_stale(sample.taken)

    async def _take(self, rec: ContainerRecord) -> Sample | None:
        sample = await asyncio.to_thread(self.sample, rec)
        if sample is not None:
            self._remember(rec.id, sample)
        return sample

    @staticmethod
    def _after(prev: Sample | None, cur: Sample) -> Json:
        doc = cur.doc
        if prev is not None:
            doc = {**doc, "preread": prev.doc["read"], "precpu_stats": prev.doc["cpu_stats"]}
        return doc

    # ---- the API's two forms ------------------------------------------------------------------

    async def once(self, ref: str, one_shot: bool) -> Json:
        rec = await asyncio.to_thread(self.shared.view, ref)
        if not running(rec):
            return zeroed(rec)
        prev = None if one_shot else self.last.get(rec.id)
        if prev is not None and time.monotonic() - prev.taken > MAX_AGE:
            prev = None
        if not one_shot:
            if prev is None:
                prev = await self._take(rec)
                wait = GAP
            else:
                wait = GAP - (time.monotonic() - prev.taken)
            if wait > 0:
                await asyncio.sleep(wait)
        cur = await self._take(rec)
        if cur is None:
            return zeroed(rec)
        return self._after(prev, cur)

    async def stream(self, ref: str) -> AsyncIterator[Json]:
        """Resolves `ref` before the first item (a missing container is a 404, not a
        stream); ends when the container is removed."""
        rec = await asyncio.to_thread(self.shared.view, ref)
        return self._frames(rec)

    async def _frames(self, rec: ContainerRecord) -> AsyncIterator[Json]:
        prev = self.last.get(rec.id)
        if prev is not None and time.monotonic() - prev.taken > MAX_AGE:
            prev = None
        while True:
            cur = await self._take(rec) if running(rec) else None
            if cur is None:
                prev = None
                yield zeroed(rec)
            else:
                yield self._after(prev, cur)
                prev = cur
            await asyncio.sleep(INTERVAL)
            try:
                rec = await asyncio.to_thread(self.shared.view, rec.id)
            except errors.NotFound:  # removed: the stream ends, as dockerd's
                return
