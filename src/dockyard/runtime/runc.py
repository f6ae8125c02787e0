"""The only module that runs the runc binary (DESIGN: one entry module per external tool).

Every call is logged at DEBUG with argv, rc and duration; failures raise errors.System with the
message runc printed, which is what Docker shows users too."""

from __future__ import annotations

import json
import logging
import subprocess
import time
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.runtime import runcstate

log = logging.getLogger(__name__)


class Runc:
    """A runc CLI bound to one state root (`--root`). `create` is done by the shim, which must
    own the container's stdio; everything after it (start, kill, delete...) goes through here."""

    def __init__(self, root: Path, binary: str = "runc", systemd_cgroup: bool = False) -> None:
        self.root = root
        self.binary = binary
        self.systemd_cgroup = systemd_cgroup  # cgroupsPath is slice:prefix:name (systemd driver)

    def _run(self, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        argv = [self.binary, "--root", str(self.root)]
        if self.systemd_cgroup:
            argv.append("--systemd-cgroup")
        argv += args
        started = time.monotonic()
        try:
            proc = subprocess.run(argv, input=input, capture_output=True, check=False)
        except FileNotFoundError as e:
            raise errors.System(f"runtime binary not found: {self.binary}") from e
        log.debug("%s rc=%d %.3fs", argv, proc.returncode, time.monotonic() - started)
        return proc

    def _check(self, *args: str, input: bytes | None = None) -> bytes:
        proc = self._run(*args, input=input)
        if proc.returncode != 0:
            raise errors.System(_message(proc))
        return proc.stdout

    def start(self, id: str) -> None:
        try:
            released = runcstate.release_created(self.root, id)
        except TimeoutError as e:
            raise errors.System(str(e)) from None
        if released:
            log.debug("start %s: released exec.fifo", id)
            return
        self._check("start", id)

    def kill(self, id: str, signal: int, all: bool = False) -> None:
        self._check("kill", *(["--all"] if all else []), id, str(signal))

    def pause(self, id: str) -> None:
        self._check("pause", id)

    def resume(self, id: str) -> None:
        self._check("resume", id)

    def delete(self, id: str, force: bool = False) -> None:
        """Idempotent: a container runc does not know is already deleted."""
        if not (self.root / id).exists():  # runc keeps its state there: nothing to delete
            return
        state = runcstate.load(self.root, id)
        if (
            state is not None
            and not self.systemd_cgroup  # systemd owns the scope: runc delete stops its unit
            and not (self.root / id / runcstate.EXEC_FIFO).exists()
            and runcstate.remove_stopped(self.root, id, state)
        ):
            log.debug("delete %s: removed the exited container's state", id)
            return
        proc = self._run("delete", *(["--force"] if force else []), id)
        if proc.returncode != 0:
            msg = _message(proc)
            if "does not exist" in msg or "not found" in msg:
                return
            raise errors.System(msg)

    def oom_kills(self, id: str) -> int:
        """How many processes the OOM killer took in the container's memory cgroup (0 when
        runc no longer knows it). Read before delete: the cgroup goes with it."""
        state = runcstate.load(self.root, id)
        return runcstate.oom_kills(state) if state is not None else 0

    def state(self, id: str) -> dict[str, Any] | None:
        proc = self._run("state", id)
        if proc.returncode != 0:
            msg = _message(proc)
            if "does not exist" in msg or "not found" in msg:
                return None
            raise errors.System(msg)
        result: dict[str, Any] = json.loads(proc.stdout)
        return result

    def ps(self, id: str) -> list[int]:
        out = self._check("ps", "--format", "json", id)
        pids = json.loads(out or b"[]") or []
        return [int(p) for p in pids]

    def list(self) -> list[dict[str, Any]]:
        out = self._check("list", "--format", "json")
        items: list[dict[str, Any]] = json.loads(out or b"[]") or []
        return items

    def update(self, id: str, resources: dict[str, Any]) -> None:
        """New cgroup limits for a live (or paused) container; a refusal reads as containerd
        words runc's (`... exit status 1: unable to set memory limit to ...`)."""
        proc = self._run("update", "--resources", "-", id, input=json.dumps(resources).encode())
        if proc.returncode != 0:
            raise errors.System(
                f"runc did not terminate successfully: exit status {proc.returncode}: "
                f"{_message(proc)}\n: unknown"
            )


def _message(proc: subprocess.CompletedProcess[bytes]) -> str:
    text = (proc.stderr or proc.stdout or b"").decode(errors="replace").strip()
    # runc prefixes its logrus lines (`time=... level=error msg="..."`); keep the message only.
    for line in reversed(text.splitlines()):
        if 'msg="' in line:
            msg = line.split('msg="', 1)[1].rsplit('"', 1)[0]
            return msg.replace('\\"', '"')
        if line.strip():
            return line.strip()
    return f"runc exited with status {proc.returncode}"
