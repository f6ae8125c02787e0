"""A gate between the operations that hold layers, blobs and temp files not yet named by any
record, or change what names them (pull, push, build, commit, load, import, bootstrap, rmi,
image prune) and `system check`, which must see a store at
rest: those take it shared, the check exclusively (D-crash-1). Threads only; cheap (one lock
acquire per operation, never per byte)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from dockyard.errors import Conflict

T = TypeVar("T")


class Activity:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False

    def enter(self) -> None:
        """Take the gate shared (waits while a check runs); leave() once per enter()."""
        with self._cond:
            while self._exclusive:
                self._cond.wait()
            self._shared += 1

    def leave(self) -> None:
        with self._cond:
            self._shared -= 1
            self._cond.notify_all()

    @contextmanager
    def shared(self) -> Iterator[None]:
        self.enter()
        try:
            yield
        finally:
            self.leave()

    def holding(self, it: Iterator[T]) -> Iterator[T]:
        """A stream (a pull's progress lines) that holds the gate until it ends or is closed."""
        with self.shared():
            yield from it

    @contextmanager
    def exclusive(self, timeout: float) -> Iterator[None]:
        with self._cond:
            if not self._cond.wait_for(lambda: not self._exclusive and self._shared == 0, timeout):
                raise Conflict(
                    "a pull, push, build, commit, load or import is in progress: try again later"
                )
            self._exclusive = True
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()
