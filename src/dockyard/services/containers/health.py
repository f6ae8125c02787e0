"""Healthchecks (E6): one asyncio task per running container with a healthcheck, on the loop,
probing through the exec machinery (execs.py), with dockerd's semantics:

- the first probe `Interval` (30s) after start, the next `Interval` after each one ends;
- a probe still running after `Timeout` (30s) counts as failed (exit -1, `Health check
  exceeded timeout (1s)`), is sent SIGTERM, then SIGKILL 10 s later, and is waited for;
- a success makes the container healthy and resets the failing streak; `Retries` (3)
  failures in a row make it unhealthy; a failure that started within `StartPeriod` of the
  container's start, while it was never healthy yet, does not count;
- the last 5 results are kept, each output capped at 4096 bytes (`...` marks a cut);
- a change of status is a `health_status: <status>` event;
- an exit stops the probes and leaves the status unhealthy; a start resets it to starting
  (keeping the log); pause stops the probes, unpause resumes them; re-adopted containers
  resume theirs after a daemon restart.

The state lives in the record's typed `health` field (core/container.py) and is saved after each
probe, as dockerd checkpoints it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from typing import TYPE_CHECKING, Any

from dockyard import errors
from dockyard.core import timefmt
from dockyard.core.container import ContainerRecord, HealthState
from dockyard.core.types import Json
from dockyard.services.containers.shared import ContainerShared

if TYPE_CHECKING:  # execs.py imports supervision.py, which imports this module
    from dockyard.services.containers.execs import Execs

log = logging.getLogger(__name__)

SECOND = 1_000_000_000
DEFAULT_INTERVAL = 30 * SECOND
DEFAULT_TIMEOUT = 30 * SECOND
DEFAULT_RETRIES = 3
MAX_LOG = 5
MAX_OUTPUT = 4096
TERM_GRACE = 10.0  # dockerd's termProcessTimeout before SIGKILL


def probe_argv(cfg: Json) -> list[str] | None:
    """The probe's argv from Config.Healthcheck.Test, or None: no probe (none set, `NONE`)."""
    test = list((cfg.get("Healthcheck") or {}).get("Test") or [])
    if len(test) < 2 or test[0] not in ("CMD", "CMD-SHELL"):
        return None
    if test[0] == "CMD-SHELL":
        return [*(cfg.get("Shell") or ["/bin/sh", "-c"]), *test[1:]]
    return test[1:]


def reset_for_start(rec: ContainerRecord) -> None:
    """At each start (dockerd's initHealthMonitor): starting, streak 0, the log kept."""
    if probe_argv(rec.config) is None:
        return
    if rec.health is None:
        rec.health = HealthState()
    rec.health.status, rec.health.failing_streak = "starting", 0


def mark_stopped(rec: ContainerRecord) -> None:
    """At exit: a stopped container with a healthcheck reads unhealthy, as in dockerd."""
    if rec.health is not None:
        rec.health.status = "unhealthy"


class Health:
    def __init__(self, shared: ContainerShared, execs: Execs) -> None:
        self.shared = shared
        self.execs = execs
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def watch(self, rec: ContainerRecord) -> None:
        """On the loop: start probing a running container (no-op without a healthcheck)."""
        if rec.health is None or probe_argv(rec.config) is None or rec.id in self._tasks:
            return
        assert self.shared.loop is not None
        self._tasks[rec.id] = self.shared.loop.create_task(self._monitor(rec))

    def unwatch(self, cid: str) -> None:
        """On the loop: stop probing (exit, pause, removal); a running probe is ended too."""
        task = self._tasks.pop(cid, None)
        if task is not None:
            task.cancel()

    async def _monitor(self, rec: ContainerRecord) -> None:
        hc = rec.config["Healthcheck"]
        interval = (hc.get("Interval") or DEFAULT_INTERVAL) / SECOND
        timeout_ns = hc.get("Timeout") or DEFAULT_TIMEOUT
        started_at = timefmt.parse_rfc3339(rec.state["StartedAt"])
        try:
            while True:
                await asyncio.sleep(interval)
                result = await self._probe(rec, timeout_ns)
                if not await asyncio.to_thread(self._record, rec.id, result, hc, started_at):
                    return
        except asyncio.CancelledError:
            pass
        except Exception:  # a probe must never take the daemon down
            log.exception("healthcheck of %s stopped", rec.id[:12])
        finally:
            if self._tasks.get(rec.id) is asyncio.current_task():
                del self._tasks[rec.id]

    async def _probe(self, rec: ContainerRecord, timeout_ns: int) -> Json:
        start_ns = time.time_ns()
        cfg = rec.config
        body = {"Cmd": probe_argv(cfg), "AttachStdout": True, "AttachStderr": True,
                "User": cfg.get("User") or "", "WorkingDir": cfg.get("WorkingDir") or ""}  # fmt: skip
        started: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def on_started(pid: int) -> None:
            if not started.done():
                started.set_result(pid)

        run = asyncio.ensure_future(self.execs.run_captured(rec, body, MAX_OUTPUT, on_started))
        try:
            done, _ = await asyncio.wait({run}, timeout=timeout_ns / SECOND)
            if not done:
                result = _result(start_ns, -1, f"Health check exceeded timeout "
                                               f"({timefmt.duration_text(timeout_ns)})")  # fmt: skip
                await self._end(run, started)
                return result
            code, out, dropped = run.result()
        except errors.DockyardError as e:
            return _result(start_ns, -1, e.message)
        except asyncio.CancelledError:
            await self._end(run, started)
            raise
        text = out.decode(errors="replace") + ("..." if dropped else "")
        return _result(start_ns, code, text)

    async def _end(self, run: asyncio.Future[Any], started: asyncio.Future[int]) -> None:
        """SIGTERM a probe that ran too long (or whose container stops), once it has started,
        SIGKILL after the grace, and wait for it, so ended probes never pile up."""
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait({run, started}, return_when=asyncio.FIRST_COMPLETED)
        if started.done() and not run.done():
            pid = started.result()
            _signal(pid, signal.SIGTERM)
            done, _ = await asyncio.wait({run}, timeout=TERM_GRACE)
            if not done:
                _signal(pid, signal.SIGKILL)
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.shield(run)

    def _record(self, cid: str, result: Json, hc: Json, started_at: float) -> bool:
        """dockerd's handleProbeResult, under the container's lock, then saved; False when the
        container is gone or no longer running (the result is dropped, as dockerd drops it)."""
        with self.shared.lock(cid):
            rec = self.shared.repo.get(cid)
            if rec is None or rec.health is None or rec.state["Status"] != "running":
                return False
            h = rec.health
            old = h.status
            h.log = [*h.log, result][-MAX_LOG:]
            if result["ExitCode"] == 0:
                h.failing_streak, h.status = 0, "healthy"
            else:
                start_period = (hc.get("StartPeriod") or 0) / SECOND
                probe_start = timefmt.parse_rfc3339(result["Start"])
                if h.status != "starting" or probe_start - started_at >= start_period:
                    h.failing_streak += 1
                    if h.failing_streak >= (hc.get("Retries") or DEFAULT_RETRIES):
                        h.status = "unhealthy"
            self.shared.repo.save(rec)
        if h.status != old:
            self.shared.publish(rec, f"health_status: {h.status}")
        return True


def _result(start_ns: int, code: int, output: str) -> Json:
    return {"Start": timefmt.rfc3339nano(start_ns), "End": timefmt.rfc3339nano(),
            "ExitCode": code, "Output": output}  # fmt: skip


def _signal(pid: int, signo: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signo)
