"""glibc heap tuning for the long-running daemon (issue 2: idle RSS).

Two effects dominate a Python daemon's resident memory beyond its imports: glibc gives every
thread that mallocs its own arena (asyncio.to_thread's workers each keep one, mostly free
pages), and memory freed after start-up (import-time temporaries, finished requests) stays in
the heap until something trims it. `limit_arenas()` runs before any thread exists; `trim()`
after start-up and whenever the daemon has been idle for a while. Both are no-ops off glibc.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import inspect
import logging
import weakref
from collections.abc import Callable

log = logging.getLogger(__name__)

_M_ARENA_MAX = -8  # from <malloc.h>
# Python's own allocator serves small objects; the GIL serialises most malloc calls anyway,
# so one extra arena for threads blocked in syscalls is enough.
ARENAS = 2
TRIM_INTERVAL = 30.0  # seconds; a trim costs about a millisecond
# Caches outside Python's heap that can be dropped when idle (e.g. libnftables' ruleset cache);
# called from a worker thread before each periodic trim.
_IDLE_HOOKS: list[Callable[[], Callable[[], None] | None]] = []


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def limit_arenas(arenas: int = ARENAS) -> bool:
    libc = _libc()
    return bool(libc is not None and libc.mallopt(_M_ARENA_MAX, arenas) == 1)


def trim() -> bool:
    """Give free heap pages back to the kernel (malloc_trim(0)); True if any were released."""
    libc = _libc()
    return bool(libc is not None and libc.malloc_trim(0) == 1)


def on_idle(hook: Callable[[], None]) -> None:
    """Register a callable that frees an idle cache; it must be cheap and thread-safe. A bound
    method is held weakly: registering does not keep its object (an engine, a store) alive."""
    if inspect.ismethod(hook):
        _IDLE_HOOKS.append(weakref.WeakMethod(hook))
    else:
        _IDLE_HOOKS.append(lambda: hook)


def release_idle() -> None:
    for ref in list(_IDLE_HOOKS):
        hook = ref()
        if hook is None:  # its object is gone
            _IDLE_HOOKS.remove(ref)
            continue
        try:
            hook()
        except Exception:  # a cache that cannot be freed now stays: never fatal
            log.exception("idle release failed")
    trim()


async def trim_periodically(interval: float = TRIM_INTERVAL) -> None:
    """Every `interval` seconds for the daemon's life: free idle caches, then trim, so after a
    burst of work (a big load, many containers) the pages go back to the kernel."""
    while True:
        await asyncio.sleep(interval)
        await asyncio.to_thread(release_idle)
