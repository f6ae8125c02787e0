"""Where a `cp` into a container may leave temp names (R1, #17): where the kernel has no
O_TMPFILE on overlayfs (before Linux 6.6), the extractor writes each file under a
`.dockyard-cp-*` name beside its target and renames it in (storage/copyarchive.py). A killed
extractor (a host crash) leaves such names. While a copy runs, a marker in the container's
directory names the host directory the copy writes under (the writable layer's upper dir, or a
volume's source); at the daemon's next start each marker's directory is swept of temp names
and the marker goes."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from pathlib import Path

from dockyard.storage.copyarchive import TEMP_PREFIX

log = logging.getLogger(__name__)

DIR = "cp-pending"


def mark(container_dir: Path, host_dir: str) -> Path:
    pending = container_dir / DIR
    pending.mkdir(mode=0o700, exist_ok=True)
    marker = pending / secrets.token_hex(8)
    marker.write_text(host_dir)
    return marker


def unmark(marker: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        marker.unlink()


def sweep(container_dir: Path) -> list[str]:
    """Remove the temp names under the directories the markers name, then the markers."""
    pending = container_dir / DIR
    if not pending.is_dir():
        return []
    removed: list[str] = []
    for marker in list(pending.iterdir()):
        top = marker.read_text()
        for dirpath, _dirs, names in os.walk(top):
            for name in names:
                if name.startswith(TEMP_PREFIX):
                    path = os.path.join(dirpath, name)
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)
                        removed.append(path)
        marker.unlink()
    for path in removed:
        log.warning("removed %s, left by a copy into the container that did not finish", path)
    return removed
