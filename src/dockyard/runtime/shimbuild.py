"""Builds the C monitor (`dockyard-shim`) on demand from the source shipped in the package.

The binary name carries a hash of the source, so a changed shim.c gets a new binary while
running containers keep the old one (their shims were exec'd from it)."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import time
from pathlib import Path

from dockyard import errors

log = logging.getLogger(__name__)

SOURCE = Path(__file__).parent / "shim" / "shim.c"


def shim_name(source: Path = SOURCE) -> str:
    return "dockyard-shim-" + hashlib.sha256(source.read_bytes()).hexdigest()[:12]


def ensure_shim(bin_dir: Path, source: Path = SOURCE) -> Path:
    """Return the path of the compiled shim, compiling it first when it is missing."""
    return ensure_binary(bin_dir, source, "dockyard-shim")


def ensure_binary(bin_dir: Path, source: Path, name: str) -> Path:
    """The compiled `source` (`name-<hash>` under `bin_dir`), built first when missing."""
    target = bin_dir / (f"{name}-" + hashlib.sha256(source.read_bytes()).hexdigest()[:12])
    if target.exists():
        return target
    bin_dir.mkdir(parents=True, exist_ok=True)
    # A temp name + rename keeps a concurrent caller from exec'ing a half-written binary.
    tmp = bin_dir / f".{target.name}.{os.getpid()}.tmp"
    argv = ["gcc", "-O2", "-Wall", "-Werror", "-o", str(tmp), str(source)]
    started = time.monotonic()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    except FileNotFoundError as e:
        raise errors.System(f"cannot build {name}: gcc is not installed") from e
    log.debug("%s rc=%d %.3fs", argv, proc.returncode, time.monotonic() - started)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise errors.System(f"cannot build {name}: {proc.stderr.strip()}")
    os.replace(tmp, target)
    return target
