"""Mount spec parsing (S8, S9, S10): Binds, Mounts, Tmpfs and image VOLUMEs into mount points,
with Docker's error wording; the tmpfs option merge; the populate copy on a temp tree."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dockyard.errors import InvalidParameter
from dockyard.volumes import specs
from dockyard.volumes.local import directory_size, oci_mount, validate_options
from dockyard.volumes.populate import populate, scoped
from dockyard.volumes.specs import MountPoint


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("/data", MountPoint("volume", "/data")),
        ("v1:/d", MountPoint("volume", "/d", "v1", mode="z")),
        ("v1:/d:ro", MountPoint("volume", "/d", "v1", rw=False, mode="ro")),
        ("v1:/d:nocopy", MountPoint("volume", "/d", "v1", mode="nocopy", copy_data=False)),
        ("/h:/d", MountPoint("bind", "/d", "/h", create_source=True)),
        ("/h/:/d/:ro,rshared", MountPoint("bind", "/d", "/h", rw=False, mode="ro,rshared",
                                          propagation="rshared", create_source=True)),
        ("/h:/d:z", MountPoint("bind", "/d", "/h", mode="z", create_source=True)),
    ],
)  # fmt: skip
def test_binds(raw: str, want: MountPoint) -> None:
    """S8/S9: `-v` forms: anonymous, named, bind, modes and propagation."""
    assert specs.parse_bind(raw) == want


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("/a:/b:ro:x", "invalid volume specification: '/a:/b:ro:x'"),
        ("/a:/b:bogus", "invalid mode: bogus"),
        ("/a:/b:ro,rw", "invalid mode: ro,rw"),
        ("/a:/b:nocopy", "invalid mode: nocopy"),
        ("/a:rel", "invalid volume specification: '/a:rel': invalid mount config for type \"bind\": "
                   "invalid mount path: 'rel' mount path must be absolute"),
        ("/a:/", "invalid volume specification: '/a:/': invalid mount config for type \"bind\": "
                 "invalid specification: destination can't be '/'"),
        ("a b:/x", 'create a b: "a b" includes invalid characters for a local volume name, only '
                   '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
                   "directory, use absolute path"),
        ("a:/x", 'create a: "a" includes invalid characters'),
    ],
)  # fmt: skip
def test_bind_errors(raw: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as e:
        specs.parse_bind(raw)
    assert e.value.message.startswith(message)


def test_mounts() -> None:
    """S8/S9/S10: `--mount` objects."""
    m = specs.parse_mount(
        {"Type": "bind", "Source": "/h", "Target": "/d", "ReadOnly": True,
         "BindOptions": {"Propagation": "rslave"}}, exists=lambda p: True)  # fmt: skip
    assert (m.rw, m.propagation, m.create_source, m.mode) == (False, "rslave", False, "")
    v = specs.parse_mount(
        {"Type": "volume", "Target": "/d", "VolumeOptions": {"NoCopy": True, "Labels": {"a": "b"}}}
    )
    assert (v.source, v.mode, v.copy_data, dict(v.labels)) == ("", "z", False, {"a": "b"})
    t = specs.parse_mount({"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1 << 20, "Mode": 0o1770}})  # fmt: skip
    assert t.tmpfs_options == ("noexec", "nosuid", "nodev", "size=1m", "mode=1770")
    assert t.in_inspect


@pytest.mark.parametrize(
    ("mount", "message"),
    [
        ({"Type": "bind", "Source": "/nope", "Target": "/x"},
         'invalid mount config for type "bind": bind source path does not exist: /nope'),
        ({"Type": "bind", "Target": "/x"},
         'invalid mount config for type "bind": field Source must not be empty'),
        ({"Type": "tmpfs", "Source": "/a", "Target": "/x"},
         'invalid mount config for type "tmpfs": field Source must not be specified'),
        ({"Type": "volume", "Target": "/x", "BindOptions": {"Propagation": "shared"}},
         'invalid mount config for type "volume": field BindOptions must not be specified'),
        ({"Type": "npipe", "Target": "/x"}, 'invalid mount config for type "npipe": mount type unknown'),
        ({"Type": "bind", "Source": "/", "Target": "/x", "BindOptions": {"Propagation": "odd"}},
         "invalid propagation mode: odd"),
    ],
)  # fmt: skip
def test_mount_errors(mount: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidParameter) as e:
        specs.parse_mount(mount, exists=lambda p: p == "/")
    assert e.value.message == message


def test_tmpfs_merge_and_order() -> None:
    """S10: defaults noexec,nosuid,nodev; user flags override their opposites; image VOLUMEs
    already covered by a bind or tmpfs are skipped; duplicates are refused."""
    t = specs.parse_tmpfs("/t", "exec,size=1m,size=2m")
    assert t.tmpfs_options == ("nosuid", "nodev", "exec", "size=2m") and not t.in_inspect
    points = specs.parse_all(
        {"Volumes": {"/a": {}, "/b": {}, "/c": {}}},
        {"Binds": ["/h:/a"], "Tmpfs": {"/b": ""}},
    )
    assert [(p.type, p.destination) for p in points] == [
        ("bind", "/a"), ("tmpfs", "/b"), ("volume", "/c")]  # fmt: skip
    with pytest.raises(InvalidParameter, match="Duplicate mount point: /a"):
        specs.parse_all({}, {"Binds": ["/h:/a"], "Tmpfs": {"/a": ""}})


def test_tmpfs_size_units() -> None:
    assert specs.tmpfs_size_option(3 << 30) == "size=3g"
    assert specs.tmpfs_size_option(1536) == "size=1536"
    assert specs.tmpfs_size_option(3072) == "size=3k"
    assert specs.tmpfs_size_option(1000) == "size=1000"


def test_local_options() -> None:
    """S8: the local driver's options and how they mount."""
    validate_options("v", {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"})
    with pytest.raises(InvalidParameter, match='create v: invalid option: "x"'):
        validate_options("v", {"x": "1"})
    with pytest.raises(InvalidParameter, match="quota size requested but no quota support"):
        validate_options("v", {"size": "1m"})
    m = oci_mount({"type": "none", "device": "/src", "o": "bind"}, "/d", rw=False)
    assert m == {"destination": "/d", "type": "bind", "source": "/src",
                 "options": ["rbind", "ro", "rprivate"]}  # fmt: skip


def test_populate_tree(tmp_path: Path) -> None:
    """S8: the copy keeps modes, times, symlinks and hard links; a symlinked image path is
    resolved inside the root; a non-empty volume is left alone."""
    root = tmp_path / "root"
    (root / "real" / "sub").mkdir(parents=True)
    (root / "link").symlink_to("/real")
    f = root / "real" / "f"
    f.write_text("x")
    os.chmod(f, 0o604)
    os.utime(f, (1000, 2000))
    os.link(f, root / "real" / "h")
    (root / "real" / "s").symlink_to("../../../etc/passwd")
    assert scoped(root, "/link/sub") == root / "real" / "sub"
    assert scoped(root, "/link/../../real") == root / "real"
    vol = tmp_path / "vol"
    vol.mkdir()
    assert populate(root, "/link", vol)
    assert stat.S_IMODE((vol / "f").stat().st_mode) == 0o604
    assert (vol / "f").stat().st_mtime == 2000 and (vol / "h").stat().st_ino == (
        vol / "f"
    ).stat().st_ino
    assert os.readlink(vol / "s") == "../../../etc/passwd" and (vol / "sub").is_dir()
    assert directory_size(vol) == 1 + len("../../../etc/passwd")
    assert not populate(root, "/link", vol)  # not empty any more
    assert not populate(root, "/missing", tmp_path / "vol")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("src", ("src", True)),
        ("src:", ("src", True)),
        ("src:rw", ("src", True)),
        ("src:ro", ("src", False)),
        ("src:z", ("src", True)),  # SELinux labels: accepted without effect (D-volumes-3)
        ("src:ro,Z", ("src", False)),
    ],
)
def test_volumes_from_specs(spec: str, expected: tuple[str, bool]) -> None:
    """S8: `--volumes-from CONTAINER[:mode]` as moby's ParseVolumesFrom reads it."""
    assert specs.parse_volumes_from(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "volumes-from specification cannot be an empty string"),
        ("src:rslave", "invalid mode: rslave"),
        ("src:nocopy", "invalid mode: nocopy"),
        ("src:ro,rw", "invalid mode: ro,rw"),
        ("src:x", "invalid mode: x"),
    ],
)
def test_bad_volumes_from_specs(spec: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as e:
        specs.parse_volumes_from(spec)
    assert e.value.message == message
