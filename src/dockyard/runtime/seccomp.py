"""The seccomp filter of a container's OCI spec (E4), pure.

dockyard's built-in profile allows every system call except those that act on the whole host
(kernel modules, kexec, reboot, swap, clocks, accounting, keyrings, bpf, perf) or leave the
container's namespaces, each unless the container holds the capability that would make the call
legitimate (CAP_SYS_ADMIN for mount/unshare/setns, CAP_SYS_MODULE for modules, ...). It is a
deny list on an allow default, not Docker's allow list: the effect a container sees is the same
for what matters (EPERM for those calls, `clone3` answering ENOSYS so libc falls back to
`clone`, namespace flags refused on `clone`), and the list stays short enough to review.

`--security-opt seccomp=unconfined` and `--privileged` run without a filter; `seccomp=<json>` (the
docker CLI sends the file's contents) takes a profile in Docker's format: defaultAction,
architectures or archMap, syscalls with names, action, args, errnoRet and includes/excludes by
capability.
"""

from __future__ import annotations

import json
import platform

from dockyard import errors
from dockyard.core.types import Json

EPERM, ENOSYS = 1, 38
_ARCHES = {
    "x86_64": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "aarch64": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
}

# Calls denied unless the container holds the capability (None: always denied).
_GATED: dict[str | None, list[str]] = {
    "CAP_SYS_ADMIN": [
        "mount", "umount", "umount2", "pivot_root", "unshare", "setns", "move_mount",
        "open_tree", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "quotactl",
        "quotactl_fd", "lookup_dcookie", "fanotify_init", "bpf", "perf_event_open",
    ],
    "CAP_SYS_MODULE": ["init_module", "finit_module", "delete_module"],
    "CAP_SYS_BOOT": ["reboot", "kexec_load", "kexec_file_load"],
    "CAP_SYS_TIME": ["settimeofday", "stime", "clock_settime", "clock_settime64"],
    "CAP_SYS_PACCT": ["acct"],
    "CAP_SYS_RAWIO": ["iopl", "ioperm"],
    "CAP_SYSLOG": ["syslog"],
    "CAP_SYS_PTRACE": ["process_vm_readv", "process_vm_writev", "kcmp", "userfaultfd"],
    "CAP_SYS_NICE": ["mbind", "set_mempolicy", "migrate_pages", "move_pages"],
    "CAP_DAC_READ_SEARCH": ["open_by_handle_at"],
    None: [
        "swapon", "swapoff", "add_key", "request_key", "keyctl", "nfsservctl", "uselib",
        "ustat", "sysfs", "_sysctl", "create_module", "get_kernel_syms", "query_module",
        "vm86", "vm86old", "io_uring_setup", "io_uring_enter", "io_uring_register",
    ],
}  # fmt: skip

# clone(2) flags that create namespaces: refused without CAP_SYS_ADMIN (arg 0 on x86_64 and arm64).
_NS_FLAGS = (0x20000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)


def _deny(names: list[str], errno: int = EPERM, args: list[Json] | None = None) -> Json:
    rule: Json = {"names": names, "action": "SCMP_ACT_ERRNO", "errnoRet": errno}
    if args:
        rule["args"] = args
    return rule


def default_profile(caps: list[str], machine: str | None = None) -> Json:
    """The built-in filter for a container holding `caps`."""
    held = set(caps)
    denied = sorted(n for cap, names in _GATED.items() if cap not in held for n in names)
    rules = [_deny(denied)] if denied else []
    rules.append(_deny(["clone3"], ENOSYS))  # libc falls back to clone(2), which is filtered
    if "CAP_SYS_ADMIN" not in held:
        rules += [
            _deny(["clone"], args=[{"index": 0, "value": f, "valueTwo": f, "op": "SCMP_CMP_MASKED_EQ"}])
            for f in _NS_FLAGS
        ]  # fmt: skip
    return {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": _ARCHES.get(machine or platform.machine(), []),
        "syscalls": rules,
    }


def seccomp_option(security_opt: list[str] | None) -> str | None:
    """The value of `seccomp=` (or `seccomp:`) among SecurityOpt, or None."""
    for opt in security_opt or []:
        key, sep, value = opt.partition("=")
        if not sep:
            key, sep, value = opt.partition(":")
        if key == "seccomp" and sep:
            return value
    return None


_SECURITY_KEYS = {"no-new-privileges", "label", "apparmor", "seccomp", "systempaths",
                  "writable-cgroups"}  # fmt: skip


def validate(security_opt: list[str] | None) -> None:
    """At create. Unknown options fail as in dockerd 20.10 (a 500 there); a profile that does
    not decode fails here, before anything is made (dockerd finds it only at start)."""
    for opt in security_opt or []:
        key, sep, _ = opt.partition("=")
        if not sep:
            key, sep, _ = opt.partition(":")
        if key not in _SECURITY_KEYS or (not sep and key != "no-new-privileges"):
            raise errors.DockyardError(f"invalid --security-opt 1: {json.dumps(opt)}")
    value = seccomp_option(security_opt)
    if value is not None and value not in ("unconfined", "builtin", ""):
        from_docker(value, [])


def for_container(security_opt: list[str] | None, privileged: bool, caps: list[str]) -> Json | None:
    """linux.seccomp for the spec, or None for no filter."""
    value = seccomp_option(security_opt)
    if privileged or value == "unconfined":
        return None
    if value in (None, "", "builtin"):
        return default_profile(caps)
    return from_docker(value, caps)


def from_docker(text: str, caps: list[str], machine: str | None = None) -> Json:
    """A profile in Docker's JSON format -> OCI linux.seccomp, filtered for `caps`."""
    try:
        doc = json.loads(text)
        if not isinstance(doc, dict):
            raise ValueError("not an object")
    except ValueError as e:
        raise errors.InvalidParameter(f"Decoding seccomp profile failed: {e}") from None
    machine = machine or platform.machine()
    arches = list(doc.get("architectures") or [])
    for entry in doc.get("archMap") or []:
        main = str(entry.get("architecture", ""))
        if main in _ARCHES.get(machine, []):
            arches += [main, *(entry.get("subArchitectures") or [])]
    held = set(caps)
    rules: list[Json] = []
    for sc in doc.get("syscalls") or []:
        if not _applies(sc, held, machine):
            continue
        names = list(sc.get("names") or ([sc["name"]] if sc.get("name") else []))
        if not names:
            continue
        rule: Json = {"names": names, "action": str(sc.get("action", ""))}
        if sc.get("errnoRet") is not None:
            rule["errnoRet"] = int(sc["errnoRet"])
        if sc.get("args"):
            rule["args"] = [
                {k: a[k] for k in ("index", "value", "valueTwo", "op") if k in a}
                for a in sc["args"]
            ]
        rules.append(rule)
    out: Json = {"defaultAction": str(doc.get("defaultAction", "SCMP_ACT_ERRNO"))}
    if doc.get("defaultErrnoRet") is not None:
        out["defaultErrnoRet"] = int(doc["defaultErrnoRet"])
    out["architectures"] = list(dict.fromkeys(arches))
    out["syscalls"] = rules
    return out


def _applies(sc: Json, held: set[str], machine: str) -> bool:
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
    inc, exc = sc.get("includes") or {}, sc.get("excludes") or {}
    if inc.get("caps") and not set(inc["caps"]) <= held:
        return False
    if inc.get("arches") and arch not in inc["arches"]:
        return False
    if exc.get("caps") and set(exc["caps"]) & held:
        return False
    return not (exc.get("arches") and arch in exc["arches"])
