"""The `local` volume driver (S8): `<data-root>/volumes/<name>/_data`, Docker's layout.

Options (`volume create -o`): `type`, `device`, `o` as for mount(8), and `size` (tmpfs only;
Docker wants filesystem quotas for the rest). A volume with options is not a directory we fill:
its filesystem is mounted straight into each container that uses it (an OCI mount entry), so no
host mount outlives a container; see docs/decisions.md D-volumes-1.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import threading
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

from dockyard.errors import InvalidParameter
from dockyard.storage import fsflags, usage
from dockyard.volumes import populate

DRIVER = "local"
VALID_OPTIONS = ("type", "device", "o", "size")
log = logging.getLogger(__name__)


def validate_options(name: str, opts: Mapping[str, str]) -> None:
    """Docker's local driver checks, before anything is created."""
    for key in opts:
        if key not in VALID_OPTIONS:
            raise InvalidParameter(f'create {name}: invalid option: "{key}"')
    if "size" in opts and opts.get("type") != "tmpfs":
        raise InvalidParameter(f"create {name}: quota size requested but no quota support")
    if opts.get("type") and not opts.get("device"):
        raise InvalidParameter(f'create {name}: missing required option: "device"')
    if opts.get("device") and not opts.get("type"):
        raise InvalidParameter(f'create {name}: missing required option: "type"')


def oci_mount(opts: Mapping[str, str], destination: str, rw: bool) -> dict[str, Any]:
    """The container's view of a volume with options: what `mount -t type -o o device` gives."""
    flags = [o for o in (opts.get("o") or "").split(",") if o]
    if opts.get("size"):
        flags.append(f"size={opts['size']}")
    kind = opts.get("type") or "none"
    if "bind" in flags or "rbind" in flags or kind == "none":
        kind = "bind"
        flags = [f for f in flags if f not in ("bind", "rbind")] + ["rbind"]
    if not rw:
        flags.append("ro")
    return {
        "destination": destination,
        "type": kind,
        "source": opts.get("device") or kind,
        "options": [*flags, "rprivate"],
    }


SPARES = 4  # ready-made volume directories; a create renames one into place
_SPARE_PREFIX = ".spare-"  # volume names start with [a-zA-Z0-9]: never a volume's name


class LocalDriver:
    """Directories under `root`. Lifecycle: create -> used by containers -> remove (the whole
    `<name>` directory). Sizes are apparent sizes, each inode counted once, as dockerd's
    `system df` counts them.

    create() renames a spare `<root>/.spare-*/_data` tree into place when one is ready (one
    rename: ~12 us, where two mkdirs on a busy ext4 take up to ~0.2 ms); a background thread,
    started on the first create, keeps SPARES of them. Spares and populate copies
    (volumes/populate.py) left by a crash are removed when the driver starts."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._root = str(root)
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o701)  # others may traverse to a bind-mounted _data, not list names
        fsflags.mark_top_dir(root)  # each volume in a block group of its own (ext4)
        with os.scandir(root) as it:
            for entry in it:
                if entry.name.startswith((_SPARE_PREFIX, populate.TEMP_PREFIX)):
                    shutil.rmtree(entry.path, ignore_errors=True)
        self._spares: list[str] = []
        self._wanted = threading.Condition()
        self._refiller: threading.Thread | None = None

    def path(self, name: str) -> Path:
        return self.root / name / "_data"

    def mountpoint(self, name: str) -> str:
        return f"{self._root}/{name}/_data"  # str formatting: `volume ls` asks for hundreds

    def create(self, name: str) -> Path:
        """The volume's `_data` directory, made empty (or kept, if it exists: idempotent)."""
        target = f"{self._root}/{name}"
        with self._wanted:
            spare = self._spares.pop() if self._spares else None
            self._wanted.notify()
        if self._refiller is None:
            self._start_refiller()
        if spare is not None:
            try:
                os.rename(spare, target)  # fails if `target` exists (not empty): keep that one
                return self.path(name)
            except OSError:
                shutil.rmtree(spare, ignore_errors=True)
        data = self.path(name)
        data.parent.mkdir(mode=0o701, exist_ok=True)
        data.mkdir(mode=0o755, exist_ok=True)
        return data

    def _start_refiller(self) -> None:
        with self._wanted:
            if self._refiller is None:
                self._refiller = threading.Thread(
                    target=self._refill, name="volume-spares", daemon=True
                )
                self._refiller.start()

    def _refill(self) -> None:
        while True:
            with self._wanted:
                while len(self._spares) >= SPARES:
                    self._wanted.wait()
            spare = f"{self._root}/{_SPARE_PREFIX}{secrets.token_hex(8)}"
            try:
                os.mkdir(spare, 0o701)
                os.mkdir(f"{spare}/_data", 0o755)
                os.chmod(f"{spare}/_data", 0o755)  # whatever the daemon's umask
            except OSError:
                log.exception("cannot prepare a spare volume directory")
                shutil.rmtree(spare, ignore_errors=True)
                with self._wanted:
                    self._wanted.wait(5.0)  # a full or read-only disk: retry later
                continue
            with self._wanted:
                self._spares.append(spare)

    def names(self) -> list[str]:
        """Every volume directory present (spares and temp copies are not volumes)."""
        with os.scandir(self.root) as it:
            return [e.name for e in it if not e.name.startswith(".") and e.is_dir()]

    def remove(self, name: str) -> None:
        shutil.rmtree(self.root / name, ignore_errors=True)
        usage.SIZES.forget(self.mountpoint(name))  # the name may be created again

    def is_empty(self, name: str) -> bool:
        try:
            with os.scandir(self.path(name)) as it:
                return next(it, None) is None
        except FileNotFoundError:
            return True

    def size(self, name: str, stamp: Hashable | None = None) -> int:
        """Apparent size of the volume's data; `stamp`: see storage/usage.py."""
        return usage.SIZES.size_at(self.mountpoint(name), stamp)


def directory_size(path: Path) -> int:
    return usage.tree_size(path)
