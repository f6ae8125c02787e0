"""Running a blocking service call on the event loop when it has been proven cheap.

Why: handing a call to a worker thread (`asyncio.to_thread`) and back costs ~0.05-0.1 ms, more
than a listing of a few dozen records costs itself, and `ps` is asked for constantly. But a call
whose cost grows with the data (1000 containers) must never stall the loop. `InlineCall` times
every run: after one under `budget` (inline, or a thread's whole round trip) the next one runs
inline; one over it sends the next ones to a thread until one of those comes back under budget
(the data may have shrunk). So at most one run in a row can overrun the budget on the loop.

Lifecycle: one module-level `InlineCall` per handler; `await call.run(fn, *args)` per request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class InlineCall:
    def __init__(self, budget: float = 0.0005) -> None:
        self.budget = budget
        self.inline = False  # the first run, of unknown cost, goes to a thread

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        started = time.perf_counter()
        try:
            if not self.inline:
                # the thread's own time is unknown; the whole round trip bounds it from above
                return await asyncio.to_thread(fn, *args)
            return fn(*args)
        finally:
            self.inline = time.perf_counter() - started <= self.budget
