"""The daemon gives its memory back after a load by replacing itself when idle (#17, R1; D-scale-10).

Why: after a load (1,000 containers created and removed, thousands of requests) the Python heap
is back to its idle size, but the pages are not: pymalloc frees an arena only when every object
in it is gone, and objects that outlive the load (C extension types' free lists, caches, rings)
sit in most of them. No allocator helped (D-scale-6). A process that starts again holds only
what it needs.

When: every `TICK` seconds the monitor samples the API's clients. After `idle` seconds in which
no client was connected and the engine was quiet (nothing in flight that lives only in memory:
a running exec, an exit being handled, a restart back-off, a [::1] proxy), it recycles if a new
process would save more than `growth` of the RSS measured after start-up (and `floor` at
least). The saving is estimated as the RSS's growth since start-up, or the cost of the running
containers it started with that are gone (a daemon started with 1,000 containers that were then
removed has not grown, but holds their pages). It then stops accepting (the listening socket
stays open: connections made meanwhile wait in its backlog), closes as on SIGTERM and executes
itself again with the same command line, handing over its sockets and locks (handover.py).
The successor re-adopts the running containers as after any restart (live-restore), without
the restart policies of a daemon start.

Lifecycle: Monitor(policy, clients, quiet, running) -> settle() once start-up is done ->
`await wait_due(freeze)`: returns after calling `freeze()` in the same step as the last check,
so no client can connect in between.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

TICK = 5.0  # seconds between samples
# bytes of daemon RSS per running container (the scale bench: +54 MiB from 10 to 1,000)
PER_CONTAINER = 48 << 10
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Policy:
    idle: float = 60.0  # seconds without a client before a recycle; 0: never
    growth: float = 0.10  # over the settled RSS; negative: whatever the memory (tests)
    floor: int = 4 << 20  # bytes: a smaller growth is not worth the pause

    def due(self, rss: int, settled: int, idle_for: float, gone: int = 0) -> bool:
        """`gone`: running containers at start-up that no longer run."""
        if self.idle <= 0 or idle_for < self.idle:
            return False
        gain = max(rss - settled, gone * PER_CONTAINER)
        return self.growth < 0 or gain > max(self.floor, settled * self.growth)


def rss() -> int:
    """This process's resident set, in bytes."""
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * _PAGE


class Monitor:
    """`clients()` returns (connections open now, connections accepted so far); `quiet()`
    returns None or what keeps the engine from being replaced now; `running()` the number of
    running containers."""

    def __init__(
        self,
        policy: Policy,
        clients: Callable[[], tuple[int, int]],
        quiet: Callable[[], str | None],
        running: Callable[[], int] = lambda: 0,
        tick: float = TICK,
        clock: Callable[[], float] = time.monotonic,
        memory: Callable[[], int] = rss,
    ) -> None:
        self.policy = policy
        self._clients = clients
        self._quiet = quiet
        self._tick = tick
        self._clock = clock
        self._memory = memory
        self._running = running
        self.settled = 0
        self.started_with = 0  # running containers

    def settle(self) -> None:
        self.settled = self._memory()
        self.started_with = self._running()

    def check(self, idle_since: float | None, seen: int) -> tuple[bool, float | None, int]:
        """One sample: (due, when the idle stretch began or None, connections accepted so far)."""
        now = self._clock()
        open_now, accepted = self._clients()
        if open_now or accepted != seen or self._quiet() is not None:
            return False, None, accepted
        if idle_since is None:
            return False, now, accepted
        gone = max(0, self.started_with - self._running())
        due = self.policy.due(self._memory(), self.settled, now - idle_since, gone)
        return due, idle_since, accepted

    async def wait_due(self, freeze: Callable[[], None]) -> None:
        """Return once a recycle is due, `freeze()` called in the same step as the last sample."""
        if self.policy.idle <= 0:
            await asyncio.Future()  # never
        idle_since: float | None = None
        seen = self._clients()[1]
        while True:
            await asyncio.sleep(self._tick)
            due, idle_since, seen = self.check(idle_since, seen)
            if due:
                log.info("recycling: idle for %.0f s, RSS %.1f MiB against %.1f after start-up, "
                         "%d running containers against %d",
                         self._clock() - (idle_since or 0), self._memory() / 2**20,
                         self.settled / 2**20, self._running(), self.started_with)  # fmt: skip
                freeze()
                return
