"""heap.on_idle (R1, #17): idle releases run from the daemon's periodic trim; a registered
bound method does not keep its object alive, and a gone object's hook is dropped."""

from __future__ import annotations

import gc

from dockyard import heap


class _Cache:
    def __init__(self, calls: list[str], name: str) -> None:
        self.calls, self.name = calls, name
        heap.on_idle(self.release)

    def release(self) -> None:
        self.calls.append(self.name)


def test_hooks_of_live_objects_run_and_those_of_gone_objects_are_dropped() -> None:
    calls: list[str] = []
    gc.collect()
    heap.release_idle()  # other tests' gone objects are dropped first
    before = len(heap._IDLE_HOOKS)
    kept = _Cache(calls, "kept")
    gone = _Cache(calls, "gone")
    del gone
    gc.collect()
    heap.release_idle()
    assert calls == ["kept"]
    assert len(heap._IDLE_HOOKS) == before + 1
    del kept
    gc.collect()
    heap.release_idle()
    assert len(heap._IDLE_HOOKS) == before


def test_a_plain_function_stays_registered() -> None:
    calls: list[int] = []

    def hook() -> None:
        calls.append(1)

    heap.on_idle(hook)
    del hook
    heap.release_idle()
    heap.release_idle()
    assert calls == [1, 1]
