"""Undo stacks for multi-step setups and best-effort teardown.

    with Rollback() as rb:
        a = make_a();  rb.push(remove_a, a)
        b = make_b(a); rb.push(remove_b, b)
        rb.commit()        # success: the undo steps are dropped

If the block raises before commit(), the pushed steps run in reverse order; errors raised by undo
steps are logged, never allowed to hide the original error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

log = logging.getLogger(__name__)


class Rollback:
    def __init__(self) -> None:
        self._steps: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []

    def push(self, fn: Callable[..., Any], *args: Any) -> None:
        self._steps.append((fn, args))

    def commit(self) -> None:
        self._steps.clear()

    def __enter__(self) -> Rollback:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self._steps.clear()
            return
        while self._steps:
            fn, args = self._steps.pop()
            try:
                fn(*args)
            except Exception:  # an undo step must not mask the original error
                log.exception("rollback step %s failed", getattr(fn, "__qualname__", fn))


def best_effort(steps: Iterable[tuple[Callable[..., Any], tuple[Any, ...]]]) -> list[Exception]:
    """Run every teardown step even when earlier ones fail; return the errors collected."""
    errors: list[Exception] = []
    for fn, args in steps:
        try:
            fn(*args)
        except Exception as e:
            log.warning("teardown step %s failed: %s", getattr(fn, "__qualname__", fn), e)
            errors.append(e)
    return errors
