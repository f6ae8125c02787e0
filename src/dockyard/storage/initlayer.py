"""The `<mount_id>-init` layer: Docker's empty mount points (S2).

runc bind-mounts /etc/hosts, /etc/resolv.conf, /etc/hostname and mounts /proc, /sys, /dev/pts,
/dev/shm over these paths. Creating them in a layer of their own keeps them out of the
container's writable layer, so `diff`, `commit` and `ps -s` never see them (Docker's
daemon/initlayer/setup_unix.go has the same list, plus /.dockerenv that tools use to detect a
container).
"""

from __future__ import annotations

import os
from pathlib import Path

DIR, FILE = "dir", "file"

# path -> "dir" | "file" | symlink target
INIT_ENTRIES: dict[str, str] = {
    "/dev/pts": DIR,
    "/dev/shm": DIR,
    "/proc": DIR,
    "/sys": DIR,
    "/.dockerenv": FILE,
    "/etc/resolv.conf": FILE,
    "/etc/hosts": FILE,
    "/etc/hostname": FILE,
    "/dev/console": FILE,
    "/etc/mtab": "/proc/mounts",
}


def _ensure_dir(path: str) -> None:
    """A root-owned 0755 directory at `path` (a non-directory there is replaced by the caller's
    layer order: the init layer starts empty)."""
    if os.path.isdir(path) and not os.path.islink(path):
        return
    os.mkdir(path, 0o755)
    os.chown(path, 0, 0)
    os.chmod(path, 0o755)  # mkdir's mode passed through the daemon's umask


def populate(diff: Path) -> None:
    """Write the init entries into an empty diff/ dir, owned by root. Plain os calls on string
    paths: this runs on every container create, where pathlib's overhead showed."""
    root = os.fspath(diff)
    for rel, kind in INIT_ENTRIES.items():
        parts = rel.strip("/").split("/")
        for i in range(1, len(parts)):
            _ensure_dir(os.path.join(root, *parts[:i]))
        target = os.path.join(root, *parts)
        if os.path.lexists(target):
            continue
        if kind == DIR:
            _ensure_dir(target)
        elif kind == FILE:
            fd = os.open(target, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o755)
            try:
                os.fchown(fd, 0, 0)
                os.fchmod(fd, 0o755)
            finally:
                os.close(fd)
        else:
            os.symlink(kind, target)
