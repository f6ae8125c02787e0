"""Deferred deletion of directory trees (#17, D-scale-8), as containerd's overlay snapshotter
removes a snapshot: the tree is renamed into a trash directory on the same mount (one system
call, atomic), and a reaper thread deletes what the trash holds with coreutils' `rm -rf`, outside
the daemon's interpreter. `docker rm` of many containers then pays one rename per directory
instead of a Python walk whose every unlink and rmdir hands the GIL over (D-scale-7: ~1,400 futex
calls per container), and one `rm` process takes the trees of many removals.

Lifecycle: `Trash(<root>/.trash)` once per tree owner (the overlay2 driver, the containers'
dirs); `discard(path)` from any thread, any time; `drain()` waits until the trash is empty (a
test); `close()` drains and stops the reaper (a daemon's stop). A trash left non-empty by a
crash is emptied by the next daemon's first Trash on it. A tree that cannot be renamed (another
mount, EXDEV), or discarded while the filesystem is nearly full, is deleted in place, at once.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import shutil
import subprocess
import threading
import time
from pathlib import Path

from dockyard import errors
from dockyard.storage import mount
from dockyard.storage.rmtree import remove_tree, remove_tree_quietly

log = logging.getLogger(__name__)

TRASH_DIR = ".trash"  # the trash's name inside the tree it serves (the overlay2 root, ...)
BATCH = 256  # trees per `rm` command line
GATHER = 0.05  # seconds the reaper waits after a discard, so one `rm` takes many trees
# Below this much free space a discarded tree is deleted at once, in place: on a (nearly) full
# disk the space must be back when `docker rm` returns, as dockerd's synchronous removal has it.
LOW_SPACE = 512 << 20
LOW_SPACE_SHARE = 0.05


class Trash:
    def __init__(self, dir: Path) -> None:
        self.dir = dir
        dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._cond = threading.Condition()
        self._pending = False  # something was discarded since the reaper last looked
        self._reaping = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._rm = shutil.which("rm") or "rm"
        if any(dir.iterdir()):  # a previous daemon's leftovers
            self._wake()

    def discard(self, path: Path) -> None:
        """Take `path` (a directory tree, nothing mounted at or below it) out of sight now;
        its files are deleted soon after. A missing path is nothing to do."""
        if self._low_on_space():
            remove_tree(path)
            return
        target = self.dir / f"{path.name}-{secrets.token_hex(4)}"
        try:
            os.rename(path, target)
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno not in (errno.EXDEV, errno.EBUSY):
                raise
            remove_tree(path)  # not on the trash's mount: in place
            return
        self._wake()

    def _low_on_space(self) -> bool:
        try:
            st = os.statvfs(self.dir)
        except OSError:
            return True
        free = st.f_bavail * st.f_frsize
        return free < LOW_SPACE or free < st.f_blocks * st.f_frsize * LOW_SPACE_SHARE

    def _wake(self) -> None:
        with self._cond:
            self._pending = True
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="trash-reaper",
                                                daemon=True)  # fmt: skip
                self._thread.start()
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending:
                    return
                closing = self._closed
            if not closing:
                time.sleep(GATHER)
            with self._cond:
                self._pending = False
                self._reaping = True
            try:
                self.reap()
            finally:
                with self._cond:
                    self._reaping = False
                    self._cond.notify_all()

    def reap(self) -> None:
        """Delete what the trash holds now (the reaper calls it; safe to call from any thread:
        `rm -rf` of a tree another call is deleting only skips what is gone)."""
        try:
            names = sorted(os.listdir(self.dir))
        except FileNotFoundError:
            return
        if not names:
            return
        # rm's --one-file-system cannot tell a bind mount of the same filesystem: whatever is
        # still mounted in the trash is detached first, as dockerd's EnsureRemoveAll does
        for point in sorted(mount.mounts_under(self.dir), reverse=True):
            try:
                mount.unmount(point, mount.MNT_DETACH)
            except errors.DockyardError as e:
                log.warning("emptying %s: %s", self.dir, e)
        for i in range(0, len(names), BATCH):
            paths = [str(self.dir / n) for n in names[i : i + BATCH]]
            try:
                done = subprocess.run([self._rm, "-rf", "--one-file-system", "--", *paths],
                                      capture_output=True, check=False)  # fmt: skip
            except OSError:  # no rm to run: the slow way, in this thread
                for p in paths:
                    remove_tree_quietly(p)
                continue
            if done.returncode != 0:
                # what rm could not remove stays for the next daemon's start to try again
                log.warning("emptying %s: %s", self.dir, done.stderr.decode(errors="replace")[:500])

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until everything discarded so far is deleted; False if `timeout` passed."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and not self._reaping, timeout)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()
