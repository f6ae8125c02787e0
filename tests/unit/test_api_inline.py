"""E1: InlineCall (api/inline.py) runs a call on the loop only after a run under budget, and
sends it back to a worker thread after one over budget."""

from __future__ import annotations

import asyncio
import threading
import time

from dockyard.api.inline import InlineCall


def test_inline_after_a_cheap_run_threaded_after_a_slow_one() -> None:
    call = InlineCall(budget=0.05)
    cost = [0.0]

    def work() -> int:
        time.sleep(cost[0])
        return threading.get_ident()

    async def go() -> list[bool]:
        loop_thread = threading.get_ident()
        on_loop = []
        for seconds in (0.0, 0.0, 0.1, 0.0, 0.0):
            cost[0] = seconds
            on_loop.append(await call.run(work) == loop_thread)
        return on_loop

    # unknown -> thread; cheap -> loop; the slow run is still on the loop (it was not known),
    # the next goes to a thread, comes back cheap, and the one after is inline again
    assert asyncio.run(go()) == [False, True, True, False, True]


def test_errors_propagate_and_still_count() -> None:
    call = InlineCall(budget=0.05)

    def boom() -> None:
        raise ValueError("no")

    async def go() -> None:
        for _ in range(2):
            try:
                await call.run(boom)
            except ValueError:
                pass
            else:
                raise AssertionError("the error was swallowed")

    asyncio.run(go())
    assert call.inline
