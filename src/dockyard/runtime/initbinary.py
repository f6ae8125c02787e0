"""`--init` (E6): which host binary runs as the container's PID 1 at /sbin/docker-init.

dockerd runs its `docker-init` (tini) as `/sbin/docker-init -- CMD`, bind-mounted read-only.
A static build is needed, since the image may have no libc (busybox): Debian's tini package
ships /usr/bin/tini-static. `--init-path` (or daemon.json `init-path`) names another one."""

from __future__ import annotations

import os
import shutil

from dockyard import errors

STATIC_TINI = "/usr/bin/tini-static"
SEARCH = ("docker-init", "tini-static", "tini")


def wanted(host_init: bool | None, daemon_default: bool) -> bool:
    """HostConfig.Init decides when set (true or false); null follows the daemon's --init."""
    return daemon_default if host_init is None else bool(host_init)


def resolve(init_path: str = "") -> str:
    """The init binary's host path; a 500 with dockerd's lookup wording when there is none."""
    if init_path:
        if os.path.isabs(init_path) and os.access(init_path, os.X_OK):
            return init_path
        found = shutil.which(init_path)
        if found:
            return found
        raise errors.System(f'exec: "{init_path}": executable file not found in $PATH')
    if os.access(STATIC_TINI, os.X_OK):
        return STATIC_TINI
    for name in SEARCH:
        found = shutil.which(name)
        if found:
            return found
    raise errors.System('exec: "docker-init": executable file not found in $PATH')
