"""E4: the container's seccomp filter (runtime/seccomp.py), pure."""

from __future__ import annotations

import json

import pytest

from dockyard import errors
from dockyard.runtime import seccomp
from dockyard.runtime.capabilities import effective_caps

DEFAULT_CAPS = effective_caps(None, None, False, None)


def _denied(profile: dict[str, object]) -> set[str]:
    rules = profile["syscalls"]
    assert isinstance(rules, list)
    return {
        n
        for r in rules
        if r["action"] == "SCMP_ACT_ERRNO" and not r.get("args")
        for n in r["names"]
    }


def test_default_profile_denies_host_wide_calls_and_namespace_escapes() -> None:
    p = seccomp.default_profile(DEFAULT_CAPS, machine="x86_64")
    assert p["defaultAction"] == "SCMP_ACT_ALLOW"
    assert p["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    denied = _denied(p)
    for name in ("mount", "unshare", "setns", "init_module", "kexec_load", "reboot", "keyctl",
                 "bpf", "swapon", "clock_settime", "open_by_handle_at", "io_uring_setup"):  # fmt: skip
        assert name in denied, name
    for allowed in ("read", "ptrace", "clone", "chown", "kill", "setuid"):  # Docker allows these
        assert allowed not in denied
    clone3 = [r for r in p["syscalls"] if r["names"] == ["clone3"]]
    assert clone3 == [{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
    clone_flags = sorted(r["args"][0]["value"] for r in p["syscalls"] if r["names"] == ["clone"])
    assert 0x10000000 in clone_flags and 0x40000000 in clone_flags and len(clone_flags) == 7


def test_capabilities_lift_their_calls() -> None:
    p = seccomp.default_profile([*DEFAULT_CAPS, "CAP_SYS_ADMIN", "CAP_SYS_TIME"], machine="x86_64")
    denied = _denied(p)
    assert not {"mount", "unshare", "setns", "clock_settime"} & denied
    assert "init_module" in denied and "keyctl" in denied
    assert not [r for r in p["syscalls"] if r["names"] == ["clone"]]


@pytest.mark.parametrize(
    ("opts", "privileged", "expect"),
    [
        (None, False, "builtin"),
        (["seccomp=unconfined"], False, None),
        (["seccomp:unconfined"], False, None),
        (None, True, None),
        (["no-new-privileges", "label=disable"], False, "builtin"),
    ],
)
def test_which_filter(opts: list[str] | None, privileged: bool, expect: str | None) -> None:
    got = seccomp.for_container(opts, privileged, DEFAULT_CAPS)
    assert (got is None) == (expect is None)


def test_docker_format_profile_is_converted_for_the_container() -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "archMap": [
            {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
        ],
        "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_PTRACE"]}},
            {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm64"]}},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
        ],
    }  # fmt: skip
    out = seccomp.from_docker(json.dumps(profile), DEFAULT_CAPS, machine="x86_64")
    assert out["defaultAction"] == "SCMP_ACT_ERRNO" and out["defaultErrnoRet"] == 1
    assert out["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
    names = [r["names"] for r in out["syscalls"]]
    assert names == [["read", "write"], ["ptrace"], ["personality"]]
    assert out["syscalls"][2]["args"] == [
        {"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}
    ]


def test_bad_options_fail_with_dockers_wording() -> None:
    with pytest.raises(errors.DockyardError, match='invalid --security-opt 1: "foo"'):
        seccomp.validate(["foo"])
    with pytest.raises(errors.DockyardError, match='invalid --security-opt 1: "seccomp"'):
        seccomp.validate(["seccomp"])
    with pytest.raises(errors.InvalidParameter, match="Decoding seccomp profile failed"):
        seccomp.validate(["seccomp={bad"])
    seccomp.validate(["no-new-privileges", "seccomp=unconfined", "apparmor=unconfined"])
