"""Linux capability names and Docker's cap-add/cap-drop rules (moby's TweakCapabilities)."""

from __future__ import annotations

from dockyard import errors

# Index = capability number, so a CapBnd mask from /proc/self/status maps onto names.
ALL_CAPS = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
]

DEFAULT_CAPS = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)


def caps_from_mask(mask: int) -> list[str]:
    """Names of the capabilities set in a mask such as /proc/self/status CapBnd."""
    return [name for bit, name in enumerate(ALL_CAPS) if mask >> bit & 1]


def _normalize(names: list[str] | None) -> list[str]:
    out = []
    for raw in names or []:
        name = raw.strip().upper()
        if name == "ALL":
            out.append(name)
            continue
        if not name.startswith("CAP_"):
            name = "CAP_" + name
        if name not in ALL_CAPS:
            raise errors.InvalidParameter(f'unknown capability: "{name}"')
        out.append(name)
    return out


def effective_caps(
    cap_add: list[str] | None,
    cap_drop: list[str] | None,
    privileged: bool,
    host_caps: list[str] | None = None,
) -> list[str]:
    """The container's capability set. `host_caps` bounds "ALL" and --privileged: a process
    cannot hand out capabilities its own bounding set lacks."""
    adds, drops = _normalize(cap_add), _normalize(cap_drop)
    every = [c for c in ALL_CAPS if host_caps is None or c in host_caps]
    if privileged:
        return every
    if "ALL" in drops:
        base: list[str] = []
    elif "ALL" in adds:
        return [c for c in every if c not in drops]
    else:
        base = [c for c in DEFAULT_CAPS if c not in drops]
    if "ALL" in adds:
        return every
    return base + [c for c in adds if c not in base and c not in drops]
