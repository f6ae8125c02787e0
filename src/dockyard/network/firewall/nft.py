"""The `nft` command: the only place dockyard runs it. Every change is one `nft -f -` batch,
which the kernel applies atomically or not at all."""

from __future__ import annotations

import logging
import shutil
import subprocess
import time

from dockyard import errors

log = logging.getLogger(__name__)


def apply(batch: str) -> None:
    if not batch:
        return
    nft = shutil.which("nft") or "/usr/sbin/nft"
    t0 = time.monotonic()
    proc = subprocess.run(
        [nft, "-f", "-"], input=batch, capture_output=True, text=True, check=False
    )
    log.debug("nft -f - rc=%d (%.1f ms)", proc.returncode, (time.monotonic() - t0) * 1e3)
    if proc.returncode != 0:
        log.debug("failed nft batch:\n%s", batch)
        raise errors.System(f"nftables: {proc.stderr.strip()}")


def has_table(table_name: str) -> bool:
    nft = shutil.which("nft") or "/usr/sbin/nft"
    proc = subprocess.run(
        [nft, "list", "table", "ip", table_name], capture_output=True, text=True, check=False
    )
    return proc.returncode == 0
