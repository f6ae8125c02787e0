"""E4: the OCI spec a container runs with (build_spec), Docker's capability rules and user
resolution. Pure functions: no root needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dockyard import errors
from dockyard.runtime.capabilities import ALL_CAPS, DEFAULT_CAPS, caps_from_mask, effective_caps
from dockyard.runtime.spec import (
    MASKED_PATHS,
    MAX_KEPT,
    READONLY_PATHS,
    build_spec,
    container_env,
    paths_below,
    privileged_capabilities,
    process_args,
)
from dockyard.runtime.users import resolve_user


def spec(
    config: dict[str, Any] | None = None, user: tuple[int, int, list[int]] = (0, 0, []), **hc: Any
) -> dict[str, Any]:
    host = {k: hc.pop(k) for k in list(hc) if k.startswith("host_") or k == "swap_accounting"}
    return build_spec(
        config={"Hostname": "abc", **(config or {})},
        host_config=hc,
        rootfs="/r",
        mounts=[],
        netns_path=None,
        cgroups_path="/dockyard/abc",
        user=user,
        process_args=["sh"],
        **host,
    )


def test_default_capabilities_are_dockers_14() -> None:
    caps = spec()["process"]["capabilities"]
    assert len(DEFAULT_CAPS) == 14
    assert caps["bounding"] == caps["effective"] == caps["permitted"] == list(DEFAULT_CAPS)
    assert "inheritable" not in caps and "ambient" not in caps


def test_non_root_gets_only_a_bounding_set() -> None:
    caps = spec(user=(1000, 1000, []))["process"]["capabilities"]
    assert caps == {"bounding": list(DEFAULT_CAPS)}


def test_cap_add_and_drop_accept_both_spellings() -> None:
    caps = effective_caps(["net_admin", "CAP_SYS_PTRACE"], ["chown", "CAP_KILL"], False)
    assert "CAP_NET_ADMIN" in caps and "CAP_SYS_PTRACE" in caps
    assert "CAP_CHOWN" not in caps and "CAP_KILL" not in caps
    assert len(caps) == 14


def test_cap_drop_all_then_add() -> None:
    assert effective_caps(["NET_BIND_SERVICE"], ["ALL"], False) == ["CAP_NET_BIND_SERVICE"]


def test_cap_add_all_minus_drop_bounded_by_host() -> None:
    host = [c for c in ALL_CAPS if c != "CAP_SYS_RESOURCE"]
    caps = effective_caps(["ALL"], ["MKNOD"], False, host)
    assert "CAP_MKNOD" not in caps and "CAP_SYS_RESOURCE" not in caps and "CAP_SYS_ADMIN" in caps


def test_unknown_capability_is_dockers_error() -> None:
    with pytest.raises(errors.InvalidParameter, match='unknown capability: "CAP_FOO"'):
        spec(CapAdd=["foo"])


def test_caps_from_mask() -> None:
    assert caps_from_mask(0b101) == ["CAP_CHOWN", "CAP_DAC_READ_SEARCH"]
    assert len(caps_from_mask(0x1FFFEFFFFFF)) == len(ALL_CAPS) - 1


def test_masked_and_readonly_paths_and_mounts() -> None:
    s = spec()
    assert s["linux"]["maskedPaths"] == MASKED_PATHS and "/proc/kcore" in MASKED_PATHS
    assert s["linux"]["readonlyPaths"] == READONLY_PATHS
    mounts = {m["destination"]: m for m in s["mounts"]}
    assert set(mounts) == {
        "/proc",
        "/dev",
        "/dev/pts",
        "/sys",
        "/sys/fs/cgroup",
        "/dev/mqueue",
        "/dev/shm",
    }
    assert "ro" in mounts["/sys"]["options"] and "ro" in mounts["/sys/fs/cgroup"]["options"]
    assert "size=65536k" in mounts["/dev"]["options"]
    assert f"size={64 * 1024 * 1024}" in mounts["/dev/shm"]["options"]
    assert {"ptmxmode=0666", "newinstance", "gid=5"} <= set(mounts["/dev/pts"]["options"])
    assert s["linux"]["resources"]["devices"][0] == {"allow": False, "access": "rwm"}


def test_privileged() -> None:
    s = spec(Privileged=True, host_cap_bounding=0x1FFFEFFFFFF)
    assert s["process"]["capabilities"]["bounding"] == caps_from_mask(0x1FFFEFFFFFF)
    assert "CAP_SYS_RESOURCE" not in privileged_capabilities(0x1FFFEFFFFFF)
    assert privileged_capabilities() == list(ALL_CAPS)
    assert s["linux"]["maskedPaths"] == [] and s["linux"]["readonlyPaths"] == []
    assert all("ro" not in m["options"] for m in s["mounts"] if m["destination"].startswith("/sys"))
    assert s["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]


def test_memory_and_cpu_mapping() -> None:
    r = spec(Memory=64 << 20, NanoCpus=1_500_000_000, CpuShares=512, PidsLimit=50)["linux"][
        "resources"
    ]
    assert r["memory"] == {"limit": 64 << 20, "swap": 128 << 20}
    assert r["cpu"] == {"shares": 512, "period": 100_000, "quota": 150_000}
    assert r["pids"] == {"limit": 50}
    r = spec(Memory=64 << 20, MemorySwap=-1, swap_accounting=False)["linux"]["resources"]
    assert r["memory"] == {"limit": 64 << 20}
    assert spec(Memory=10, MemorySwap=-1)["linux"]["resources"]["memory"]["swap"] == -1
    # unset, 0 and -1 are all "no limit", said to runc as -1 (systemd: TasksMax=infinity)
    for unlimited in (None, 0, -1):
        assert spec(PidsLimit=unlimited)["linux"]["resources"]["pids"] == {"limit": -1}


def test_rlimits_capped_at_host_hard_limit() -> None:
    host = {"RLIMIT_NOFILE": (1024, 20000), "RLIMIT_NPROC": (-1, -1)}
    s = spec(
        Ulimits=[
            {"Name": "nofile", "Soft": 1024, "Hard": 1 << 20},
            {"Name": "nproc", "Soft": -1, "Hard": -1},
        ],
        host_rlimits=host,
    )
    assert s["process"]["rlimits"] == [
        {"type": "RLIMIT_NOFILE", "hard": 20000, "soft": 1024},
        {"type": "RLIMIT_NPROC", "hard": 2**64 - 1, "soft": 2**64 - 1},
    ]


def test_namespaces_and_netns() -> None:
    types = lambda s: {n["type"]: n.get("path") for n in s["linux"]["namespaces"]}  # noqa: E731
    assert types(spec()) == {"mount": None, "pid": None, "ipc": None, "uts": None, "network": None}
    s = build_spec(
        config={},
        host_config={},
        rootfs="/r",
        mounts=[],
        netns_path="/run/netns/x",
        cgroups_path="/c",
        user=(0, 0, []),
        process_args=["a"],
    )
    assert types(s)["network"] == "/run/netns/x"
    s = build_spec(
        config={},
        host_config={},
        rootfs="/r",
        mounts=[],
        netns_path="host",
        cgroups_path="/c",
        user=(0, 0, []),
        process_args=["a"],
    )
    assert "network" not in types(s)


def test_process_fields() -> None:
    s = spec(
        {"Tty": True, "WorkingDir": "/w", "Env": ["A=1", "PATH=/x"], "Domainname": "d.org"},
        user=(5, 6, [7]),
        ReadonlyRootfs=True,
        SecurityOpt=["no-new-privileges"],
        OomScoreAdj=100,
        Sysctls={"net.ipv4.ip_forward": "1"},
    )
    p = s["process"]
    assert (
        p["terminal"] is True
        and p["cwd"] == "/w"
        and p["user"] == {"uid": 5, "gid": 6, "umask": 0o022, "additionalGids": [7]}
    )
    assert p["env"] == ["HOSTNAME=abc", "TERM=xterm", "A=1", "PATH=/x"]
    assert p["noNewPrivileges"] is True and p["oomScoreAdj"] == 100
    assert (
        s["root"] == {"path": "/r", "readonly": True}
        and s["hostname"] == "abc"
        and s["domainname"] == "d.org"
    )
    assert (
        s["linux"]["sysctl"] == {"net.ipv4.ip_forward": "1"}
        and s["linux"]["cgroupsPath"] == "/dockyard/abc"
    )
    assert spec()["process"]["noNewPrivileges"] is False


def test_env_defaults() -> None:
    assert container_env({"Hostname": "h"})[0].startswith("PATH=/usr/local/sbin")


def test_user_mounts_replace_defaults_and_sort_by_depth() -> None:
    extra = [
        {"destination": "/data/sub", "type": "bind", "source": "/b", "options": ["rbind"]},
        {"destination": "/data", "type": "bind", "source": "/a", "options": ["rbind"]},
        {"destination": "/dev/shm", "type": "bind", "source": "/s", "options": ["rbind"]},
    ]
    s = build_spec(
        config={},
        host_config={},
        rootfs="/r",
        mounts=extra,
        netns_path=None,
        cgroups_path="/c",
        user=(0, 0, []),
        process_args=["a"],
    )
    dests = [m["destination"] for m in s["mounts"]]
    assert dests.count("/dev/shm") == 1 and dests[-3:] == ["/data", "/data/sub", "/dev/shm"]


def test_init_wraps_args() -> None:
    s = build_spec(
        config={},
        host_config={"Init": True},
        rootfs="/r",
        mounts=[],
        netns_path=None,
        cgroups_path="/c",
        user=(0, 0, []),
        process_args=["a"],
        init_binary="/usr/bin/tini",
    )
    assert s["process"]["args"] == ["/sbin/docker-init", "--", "a"]


def test_process_args() -> None:
    assert process_args({"Entrypoint": ["/e"], "Cmd": ["c"]}) == ["/e", "c"]
    assert process_args({"Entrypoint": None, "Cmd": ["c", "d"]}) == ["c", "d"]
    with pytest.raises(errors.InvalidParameter, match="no command specified"):
        process_args({"Entrypoint": [], "Cmd": None})


PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\nbob:x:1000:100::/home/bob:/bin/sh\n"
GROUP = "root:x:0:\nusers:x:100:\nwheel:x:10:root,bob\naudio:x:29:bob\nnogroup:x:65534:\n"


@pytest.mark.parametrize(
    ("spec_", "expected"),
    [
        ("", (0, 0, [10])),
        ("root", (0, 0, [10])),
        ("bob", (1000, 100, [10, 29])),
        ("1000", (1000, 100, [10, 29])),
        ("bob:audio", (1000, 29, [])),
        ("4242", (4242, 0, [])),
        ("4242:4243", (4242, 4243, [])),
        ("nobody:wheel", (65534, 10, [])),
    ],
)
def test_resolve_user(spec_: str, expected: tuple[int, int, list[int]]) -> None:
    assert resolve_user(spec_, PASSWD, GROUP) == expected


def test_resolve_user_errors() -> None:
    with pytest.raises(
        errors.DockyardError,
        match="unable to find user nobody2: no matching entries in passwd file",
    ):
        resolve_user("nobody2", PASSWD, GROUP)
    with pytest.raises(
        errors.DockyardError,
        match="unable to find group nogroup2: no matching entries in group file",
    ):
        resolve_user("bob:nogroup2", PASSWD, GROUP)


def test_group_add() -> None:
    assert resolve_user("bob", PASSWD, GROUP, ("users", "777")) == (1000, 100, [10, 29, 100, 777])


def test_paths_below_the_private_trees_are_the_ones_runc_opens() -> None:
    """R1 (#17, D-scale-4): the rootfs, a joined namespace file and bind sources below the
    daemon's mount trees are kept for the shim's private mount table; tmpfs and proc are not
    paths, and paths elsewhere need nothing."""
    trees = [Path("/d/overlay2"), Path("/x/netns")]
    doc: dict[str, Any] = {
        "root": {"path": "/d/overlay2/abc/merged"},
        "linux": {
            "namespaces": [
                {"type": "mount"},
                {"type": "network", "path": "/x/netns/abc"},
                {"type": "ipc", "path": "/proc/7/ns/ipc"},
            ]
        },  # fmt: skip
        "mounts": [
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm"},
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {
                "destination": "/v",
                "type": "bind",
                "source": "/d/volumes/v/_data",
                "options": ["rbind"],
            },
            {"destination": "/o", "source": "/d/overlay2/l", "options": ["rbind", "ro"]},
            {"destination": "/n", "source": "/x/netnsother", "options": ["bind"]},
        ],
    }
    assert paths_below(doc, trees) == ["/d/overlay2/abc/merged", "/x/netns/abc", "/d/overlay2/l"]
    assert paths_below(doc, []) == []
    doc["mounts"] += [{"destination": f"/m{i}", "type": "bind", "source": f"/x/netns/m{i}"}
                      for i in range(MAX_KEPT)]  # fmt: skip
    assert paths_below(doc, trees) is None  # more than the shim takes: runc uses the host's
