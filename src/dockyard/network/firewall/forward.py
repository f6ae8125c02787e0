"""Our ACCEPT rules in the host's `filter` FORWARD chain (D-net-6), so routed traffic of our
bridges (outbound through masquerade, published ports reached from other hosts, hairpin through
the gateway) passes when a dockerd has set the chain's policy to DROP: a drop verdict in any base
chain on a hook is final, so an accept in our own table cannot override it.

The rules go through the host's `iptables`/`iptables-restore` alternative, the same binary (and
so the same backend, nft or legacy) a dockerd uses: writing `table ip filter` with nft directly
would make it "incompatible" for iptables-nft and break dockerd. We never touch DOCKER* chains.
Every rule carries `--comment "dockyard:<bridge>"`; per bridge (Docker's semantics: only
published ports are reachable from outside):

    -i <br> -j ACCEPT                                    everything leaving the bridge
    -o <br> -m conntrack --ctstate RELATED,ESTABLISHED   replies towards containers
    -o <br> -m conntrack --ctstate DNAT                  published ports
    (an --internal network: only -i <br> -o <br>)

Lifecycle:
    ensure(bridge)   when a bridge is set up (daemon start, network create): idempotent, one
                     listing and at most one atomic iptables-restore batch
    remove(bridge)   when the bridge is deleted: best effort
    reconcile()      at daemon start: rules tagged for bridges that no longer exist go (rules
                     of bridges that exist stay: Docker keeps its rules across restarts, and
                     another dockyard daemon may own that bridge)
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterable

from dockyard import errors

log = logging.getLogger(__name__)

CHAIN = "FORWARD"
_TAG = re.compile(r'--comment "?dockyard:([^" ]+)"?')
_lock = threading.Lock()


def rules(bridge: str, internal: bool = False) -> list[str]:
    """The rule specs for a bridge, exactly as `iptables -S` prints them (so a listing can be
    compared with them)."""
    tag = f'-m comment --comment "dockyard:{bridge}" -j ACCEPT'
    if internal:
        return [f"-i {bridge} -o {bridge} {tag}"]
    return [
        f"-i {bridge} {tag}",
        f"-o {bridge} -m conntrack --ctstate RELATED,ESTABLISHED {tag}",
        f"-o {bridge} -m conntrack --ctstate DNAT {tag}",
    ]


def parse(listing: str) -> dict[str, list[str]]:
    """`iptables -S FORWARD` -> our rule specs by bridge."""
    out: dict[str, list[str]] = {}
    prefix = f"-A {CHAIN} "
    for line in listing.splitlines():
        if not line.startswith(prefix):
            continue
        m = _TAG.search(line)
        if m:
            out.setdefault(m.group(1), []).append(line.removeprefix(prefix))
    return out


def _batch(lines: list[str]) -> str:
    return "*filter\n" + "".join(f"{ln}\n" for ln in lines) + "COMMIT\n" if lines else ""


def ensure_batch(listing: str, bridge: str, internal: bool = False) -> str:
    """The restore batch that makes the bridge's rules exactly `rules()`, "" when they are.
    Anything else tagged for the bridge (a duplicate, the other kind) is deleted first; ours
    are inserted at the top of the chain, ahead of any trailing DROP/REJECT rule."""
    have = parse(listing).get(bridge, [])
    want = rules(bridge, internal)
    if sorted(have) == sorted(want):
        return ""
    return _batch([f"-D {CHAIN} {r}" for r in have] + [f"-I {CHAIN} 1 {r}" for r in want])


def remove_batch(listing: str, bridges: Iterable[str]) -> str:
    have = parse(listing)
    return _batch([f"-D {CHAIN} {r}" for b in bridges for r in have.get(b, [])])


def stale_bridges(listing: str, exists: Callable[[str], bool]) -> list[str]:
    return [b for b in parse(listing) if not exists(b)]


# ---- the host ---------------------------------------------------------------------------


def _iptables() -> str | None:
    # The daemon may run with a PATH lacking /usr/sbin.
    found = shutil.which("iptables") or "/usr/sbin/iptables"
    return found if os.path.exists(found) else None


def _run(argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)


def _listing(iptables: str) -> str:
    p = _run([iptables, "-w", "-S", CHAIN])
    if p.returncode != 0:
        raise errors.System(f"iptables -S {CHAIN}: {p.stderr.strip()}")
    return p.stdout


def _apply(plan: Callable[[str], str]) -> None:
    """List, plan, restore; once more on a failed batch (another process changed the chain
    between our listing and our batch, e.g. another daemon's reconcile)."""
    iptables = _iptables()
    if iptables is None:
        log.info("no iptables on this host: no FORWARD rules needed (no dockerd either)")
        return
    restore = iptables + "-restore"
    with _lock:
        for attempt in (1, 2):
            batch = plan(_listing(iptables))
            if not batch:
                return
            p = _run([restore, "-w", "--noflush"], batch)
            if p.returncode == 0:
                return
            if attempt == 2:
                raise errors.System(f"iptables-restore: {p.stderr.strip()}")


def ensure(bridge: str, internal: bool = False) -> None:
    _apply(lambda listing: ensure_batch(listing, bridge, internal))


def remove(bridge: str) -> None:
    _apply(lambda listing: remove_batch(listing, [bridge]))


def reconcile(exists: Callable[[str], bool]) -> list[str]:
    """Delete rules of bridges for which `exists` is false; return those bridges."""
    gone: list[str] = []

    def plan(listing: str) -> str:
        gone[:] = stale_bridges(listing, exists)
        return remove_batch(listing, gone)

    _apply(plan)
    return gone
