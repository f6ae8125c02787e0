"""PUT /archive's extraction in a child process (S11), as Docker's chrootarchive re-exec.

The daemon validates (container, extraction point, read-only rules), then hands the job to
`python -S -m dockyard.services.containers.extractor`, whose stdin is a pipe: first a 4-byte
length and SPEC (JSON: rootfs, mounts, extraction point, options), then the request body's tar.
The child rebuilds the ContainerView from SPEC, extracts (file data moves pipe -> file with
splice(2), never entering Python) and exits 0; on a DockyardError it writes {"kind", "message"}
to stderr and exits 1. Why a process: extraction is thousands of small syscalls, and in the
daemon each one queued for the GIL behind the event loop receiving the body.

Why a spare: starting an interpreter and importing dockyard costs ~50 ms, a large part of a
small copy and on the critical path of a large one. `Extractors` keeps one child started ahead
of need, blocked reading its (empty) stdin; each job takes it and starts the next in the
background. A spare never used exits when the daemon does (EOF on its stdin).

Lifecycle of a job: `Extractors.take()` -> `job.send_spec(spec)` -> the caller writes the tar
to `job.fd` (non-blocking) and closes it (`job.close_input()`) -> `job.wait()` raises the
child's error in the daemon. `job.kill()` abandons it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import struct
import subprocess
import sys
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any, BinaryIO

from dockyard import errors
from dockyard.services.containers.view import ContainerView, Parts, ViewMount
from dockyard.storage import copyarchive as ca

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[3])
_HEADER = struct.Struct("!I")
_F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ, missing from Python 3.11's fcntl on some builds
_PIPE_SIZE = 1 << 20
_CHUNK = 1 << 20


def spec(view: ContainerView, parts: Parts, opts: ca.ExtractOptions) -> str:
    mounts = [
        {k: v for k, v in asdict(m).items() if k != "fd"} for dest, m in view.mounts.items() if dest
    ]
    root = view.mounts[()]
    return json.dumps(
        {
            "rootfs": root.source,
            "rootfs_rw": root.rw,
            "mounts": mounts,
            "parts": list(parts),
            "no_overwrite_dir_non_dir": opts.no_overwrite_dir_non_dir,
            "chown": list(opts.chown) if opts.chown else None,
            "root_name": opts.root_name,
        }
    )


class Job:
    """One extractor child and the write end of its stdin."""

    def __init__(self) -> None:
        rfd, self.fd = os.pipe2(os.O_CLOEXEC)
        with contextlib.suppress(OSError):
            fcntl.fcntl(self.fd, _F_SETPIPE_SZ, _PIPE_SIZE)
        # -S: no site-packages scan (the child needs only the stdlib and dockyard): ~20 ms less.
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-S", "-m", "dockyard.services.containers.extractor"],
                stdin=rfd,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env={**os.environ, "PYTHONPATH": _PACKAGE_ROOT},
            )
        except BaseException:
            os.close(self.fd)
            raise
        finally:
            os.close(rfd)

    def send_spec(self, spec_json: str) -> None:
        """Write the job's spec (blocking: it fits the pipe); then `fd` takes the tar and is
        non-blocking, for the event loop's writer."""
        data = spec_json.encode()
        view = memoryview(_HEADER.pack(len(data)) + data)
        while view:
            view = view[os.write(self.fd, view) :]
        os.set_blocking(self.fd, False)

    def close_input(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def feed(self, body: BinaryIO) -> None:
        """Copy a file-like body into the child (callers without an event loop)."""
        os.set_blocking(self.fd, True)
        try:
            while chunk := body.read(_CHUNK):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(self.fd, view) :]
        except BrokenPipeError:
            pass  # the child stopped on an error: wait() reports it
        finally:
            self.close_input()

    def wait(self) -> None:
        """Wait for the child; raise its error here."""
        self.close_input()
        assert self.proc.stderr is not None
        err_text = self.proc.stderr.read().decode(errors="replace")
        self.proc.stderr.close()
        if self.proc.wait() == 0:
            return
        try:
            err: dict[str, Any] = json.loads(err_text.strip().splitlines()[-1])
            kind = getattr(errors, str(err["kind"]), errors.System)
            message = str(err["message"])
        except (ValueError, KeyError, IndexError):
            kind, message = errors.System, f"extraction failed: {err_text[-2000:]}"
        if not (isinstance(kind, type) and issubclass(kind, errors.DockyardError)):
            kind = errors.System
        raise kind(message)

    def kill(self) -> None:
        self.close_input()
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait()
        if self.proc.stderr is not None:
            self.proc.stderr.close()


class Extractors:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spare: Job | None = None
        self._refilling = False  # one spare in the making at a time (HEADs come in bursts)
        self._closed = False

    def take(self) -> Job:
        with self._lock:
            job, self._spare = self._spare, None
        if job is None or job.proc.poll() is not None:
            if job is not None:
                job.kill()
            job = Job()
        if not self._closed:
            self._start_refill()
        return job

    def prime(self) -> None:
        """Start a spare in the background unless there is one (a `docker cp` into a
        container stats the destination first: the child warms up meanwhile)."""
        with self._lock:
            if self._spare is not None:
                return
        self._start_refill()

    def _start_refill(self) -> None:
        with self._lock:
            if self._refilling:
                return
            self._refilling = True
        threading.Thread(target=self._refill, name="extractor-spare", daemon=True).start()

    def _refill(self) -> None:
        try:
            spare: Job | None = Job()
        except OSError:
            spare = None  # no spare: the next job starts its own child
        with self._lock:
            self._refilling = False
            if self._spare is None and not self._closed:
                self._spare, spare = spare, None
        if spare is not None:
            spare.kill()  # a spare appeared meanwhile (one is enough), or we are closed

    def close(self) -> None:
        """Stop the spare; no new one is kept (jobs still start their own children)."""
        with self._lock:
            self._closed = True
            spare, self._spare = self._spare, None
        if spare is not None:
            spare.kill()


# ---- the child ---------------------------------------------------------------------------


def _read_exact(fd: int, n: int) -> bytes:
    parts: list[bytes] = []
    while n > 0:
        chunk = os.read(fd, n)
        if not chunk:
            raise EOFError
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def _extract(doc: dict[str, Any], body: int) -> None:
    mounts = [
        ViewMount(tuple(m["destination"]), m["source"], m["rw"], m["volume"], m["proc_root"])
        for m in doc["mounts"]
    ]
    parts: Parts = tuple(doc["parts"])
    chown = tuple(doc["chown"]) if doc["chown"] else None
    opts = ca.ExtractOptions(
        bool(doc["no_overwrite_dir_non_dir"]),
        (chown[0], chown[1]) if chown else None,
        True,
        str(doc["root_name"]),
    )
    with ContainerView(doc["rootfs"], bool(doc["rootfs_rw"]), mounts) as view:

        def opener(rel: Parts, create: bool) -> int:
            return view.open_dir((*parts, *rel), create=create, writable=create)

        ca.extract(body, opener, opts, atomic=True)


def main() -> int:
    fd = sys.stdin.fileno()
    try:
        (length,) = _HEADER.unpack(_read_exact(fd, _HEADER.size))
        doc = json.loads(_read_exact(fd, length))
    except EOFError:
        return 0  # a spare the daemon never used
    try:
        _extract(doc, fd)
    except errors.DockyardError as e:
        sys.stderr.write(json.dumps({"kind": type(e).__name__, "message": e.message}) + "\n")
        return 1
    except OSError as e:
        sys.stderr.write(json.dumps({"kind": "System", "message": errors.os_message(e)}) + "\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
