"""Read-only lookups in an image's filesystem without mounting it: the layers' diff/ dirs,
uppermost first, with overlay's rules (a 0:0 char device is a whiteout; an opaque dir hides
what is below). COPY/ADD/WORKDIR use it to keep the metadata of directories that already exist
(so a COPY into /tmp does not reset its mode) and to resolve --chown names via /etc/passwd.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from dockyard.storage.changes import is_opaque, is_whiteout


class RootView:
    def __init__(self, diff_dirs: list[Path]) -> None:
        self.dirs = diff_dirs  # uppermost first

    def lstat(self, path: str) -> os.stat_result | None:
        parts = [p for p in path.split("/") if p]
        for d in self.dirs:
            # A whiteout or opaque dir on the way in this layer hides lower layers.
            hidden = False
            for n in range(1, len(parts)):
                prefix = os.path.join(d, *parts[:n])
                try:
                    st = os.lstat(prefix)
                except OSError:
                    continue
                if is_whiteout(st) or not stat.S_ISDIR(st.st_mode):
                    return None
                if is_opaque(prefix):
                    hidden = True
            try:
                st = os.lstat(os.path.join(d, *parts)) if parts else os.lstat(d)
            except OSError:
                if hidden:
                    return None
                continue
            return None if is_whiteout(st) else st
        return None

    def read(self, path: str, limit: int = 1 << 20) -> bytes | None:
        parts = [p for p in path.split("/") if p]
        for d in self.dirs:
            full = os.path.join(d, *parts)
            try:
                st = os.lstat(full)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                return None
            with open(full, "rb") as f:
                return f.read(limit)
        return None


def lookup_id(view: RootView, db: str, name: str) -> int | None:
    """A user or group name -> id from the image's /etc/passwd or /etc/group."""
    raw = view.read(db)
    if raw is None:
        return None
    for line in raw.decode(errors="replace").splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] == name and fields[2].isdigit():
            return int(fields[2])
    return None
