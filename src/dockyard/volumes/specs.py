"""Mount specs (S8-S10): `HostConfig.Binds` (`-v`), `HostConfig.Mounts` (`--mount`),
`HostConfig.Tmpfs` (`--tmpfs`) and the image's `Config.Volumes`, parsed into `MountPoint`s with
Docker's validation wording (moby volume/mounts linux_parser.go, validate.go). Pure: the only
host fact consulted is whether a `--mount type=bind` source exists, passed in as a callable."""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from dockyard.core.types import Json
from dockyard.errors import InvalidParameter

PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
DEFAULT_PROPAGATION = "rprivate"
TMPFS_DEFAULTS = ("noexec", "nosuid", "nodev")
VOLUME_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")


@dataclass(frozen=True)
class MountPoint:
    """One thing mounted into a container. `source` is a host path for binds, a volume name
    for volumes ("" until an anonymous volume is named), unused for tmpfs."""

    type: str  # "volume" | "bind" | "tmpfs"
    destination: str
    source: str = ""
    rw: bool = True
    mode: str = ""  # what inspect shows as Mode
    propagation: str = ""  # as given; "" lets volumes/hooks.py pick the bind default
    copy_data: bool = True  # the populate rule (S8); `nocopy` turns it off
    create_source: bool = False  # `-v /missing:/x` makes the host directory
    recursive: bool = True  # rbind unless bind-nonrecursive
    tmpfs_options: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    driver: str = "local"
    driver_options: Mapping[str, str] = field(default_factory=dict)
    in_inspect: bool = True  # `--tmpfs` mounts are not listed in `.Mounts`, as in Docker


def validate_volume_name(name: str) -> None:
    if not VOLUME_NAME.match(name):
        raise InvalidParameter(
            f'create {name}: "{name}" includes invalid characters for a local volume name, '
            'only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
            "directory, use absolute path"
        )


def _config_error(kind: str, detail: str) -> InvalidParameter:
    return InvalidParameter(f'invalid mount config for type "{kind}": {detail}')


def _check_path(kind: str, path: str) -> None:
    if not path.startswith("/"):
        raise _config_error(kind, f"invalid mount path: '{path}' mount path must be absolute")
    if posixpath.normpath(path) == "/":
        raise _config_error(kind, "invalid specification: destination can't be '/'")


def _mode_parts(mode: str) -> list[str]:
    """Docker's linuxValidMountMode: at most one each of rw/ro, z/Z, a propagation, nocopy."""
    parts = mode.split(",") if mode else []
    groups = [("rw", "ro"), ("z", "Z"), PROPAGATIONS, ("nocopy",)]
    seen = [0] * len(groups)
    for p in parts:
        for i, g in enumerate(groups):
            if p in g:
                seen[i] += 1
                break
        else:
            raise InvalidParameter(f"invalid mode: {mode}")
    if any(n > 1 for n in seen):
        raise InvalidParameter(f"invalid mode: {mode}")
    return parts


def parse_volumes_from(spec: str) -> tuple[str, bool]:
    """One `HostConfig.VolumesFrom` entry, `CONTAINER[:mode]` -> (container, rw). The mode takes
    rw/ro and z/Z only: propagation is inherited from the source and copy modes make no sense
    for volumes that exist already (moby's ParseVolumesFrom)."""
    if not spec:
        raise InvalidParameter("volumes-from specification cannot be an empty string")
    ref, sep, mode = spec.partition(":")
    if not sep:
        return ref, True
    parts = _mode_parts(mode)
    if any(p in PROPAGATIONS or p == "nocopy" for p in parts):
        raise InvalidParameter(f"invalid mode: {mode}")
    return ref, "ro" not in parts


def parse_bind(raw: str) -> MountPoint:
    """One `HostConfig.Binds` entry: `[source:]destination[:mode]`."""
    arr = raw.split(":")
    if len(arr) == 1:
        source, dest, mode = "", arr[0], ""
    elif len(arr) == 2:
        source, dest, mode = arr[0], arr[1], ""
    elif len(arr) == 3:
        source, dest, mode = arr
    else:
        raise InvalidParameter(f"invalid volume specification: '{raw}'")
    parts = _mode_parts(mode)
    kind = "bind" if source.startswith("/") else "volume"
    if len(arr) > 1 and not source:
        raise InvalidParameter(f"invalid volume specification: '{raw}'")
    try:
        _check_path(kind, dest)
    except InvalidParameter as e:
        raise InvalidParameter(f"invalid volume specification: '{raw}': {e.message}") from None
    rw = "ro" not in parts
    propagation = next((p for p in parts if p in PROPAGATIONS), "")
    if kind == "bind":
        if "nocopy" in parts:
            raise InvalidParameter(f"invalid mode: {mode}")
        return MountPoint(
            "bind",
            posixpath.normpath(dest),
            posixpath.normpath(source),
            rw=rw,
            mode=mode,
            propagation=propagation,  # "": the default, decided by volumes/hooks.py
            create_source=True,
        )
    if source:
        validate_volume_name(source)
    return MountPoint(
        "volume",
        posixpath.normpath(dest),
        source,
        rw=rw,
        mode=mode or ("z" if source else ""),
        propagation=propagation,
        copy_data="nocopy" not in parts,
    )


def tmpfs_size_option(size: int) -> str:
    for unit, factor in (("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
        if size % factor == 0:
            return f"size={size // factor}{unit}"
    return f"size={size}"


def merge_tmpfs_options(options: list[str]) -> tuple[str, ...]:
    """Docker's MergeTmpfsOptions: a later flag overrides its opposite (exec vs noexec), a later
    size/mode replaces an earlier one."""
    out: list[str] = []
    for opt in (o for o in options if o):
        key = opt.split("=", 1)[0]
        opposite = opt[2:] if opt.startswith("no") else "no" + opt
        out = [
            o
            for o in out
            if o not in (opt, opposite) and not ("=" in o and o.split("=", 1)[0] == key)
        ]
        out.append(opt)
    return tuple(out)


def parse_tmpfs(dest: str, options: str) -> MountPoint:
    """One `HostConfig.Tmpfs` entry (`--tmpfs /path:opts`)."""
    if not dest.startswith("/"):
        raise InvalidParameter(f"invalid mount path: '{dest}' mount path must be absolute")
    if posixpath.normpath(dest) == "/":
        raise InvalidParameter("invalid specification: destination can't be '/'")
    opts = merge_tmpfs_options([*TMPFS_DEFAULTS, *options.split(",")])
    return MountPoint(
        "tmpfs", posixpath.normpath(dest), rw="ro" not in opts, tmpfs_options=opts, in_inspect=False
    )


def parse_mount(m: Json, exists: Callable[[str], bool] = os.path.exists) -> MountPoint:
    """One `HostConfig.Mounts` object (`--mount`)."""
    kind = str(m.get("Type") or "")
    target = str(m.get("Target") or "")
    source = str(m.get("Source") or "")
    if kind not in ("bind", "volume", "tmpfs"):
        raise _config_error(kind, "mount type unknown")
    if not target:
        raise _config_error(kind, "field Target must not be empty")
    for opt, allowed in (("BindOptions", "bind"), ("VolumeOptions", "volume"), ("TmpfsOptions", "tmpfs")):  # fmt: skip
        if m.get(opt) and kind != allowed:
            raise _config_error(kind, f"field {opt} must not be specified")
    _check_path(kind, target)
    dest = posixpath.normpath(target)
    rw = not m.get("ReadOnly")
    if kind == "bind":
        bind = m.get("BindOptions") or {}
        if not source:
            raise _config_error(kind, "field Source must not be empty")
        if not source.startswith("/"):
            raise _config_error(kind, f"invalid mount path: '{source}' mount path must be absolute")
        create = bool(bind.get("CreateMountpoint"))
        if not create and not exists(source):
            raise _config_error(kind, f"bind source path does not exist: {source}")
        propagation = str(bind.get("Propagation") or "")
        if propagation and propagation not in PROPAGATIONS:
            raise InvalidParameter(f"invalid propagation mode: {propagation}")
        return MountPoint(
            "bind",
            dest,
            posixpath.normpath(source),
            rw=rw,
            propagation=propagation,
            create_source=create,
            recursive=not bind.get("NonRecursive"),
        )
    if kind == "tmpfs":
        if source:
            raise _config_error(kind, "field Source must not be specified")
        t = m.get("TmpfsOptions") or {}
        opts = [*TMPFS_DEFAULTS]
        if t.get("SizeBytes"):
            opts.append(tmpfs_size_option(int(t["SizeBytes"])))
        if t.get("Mode"):
            opts.append(f"mode={int(t['Mode']):o}")
        if not rw:
            opts.append("ro")
        return MountPoint("tmpfs", dest, rw=rw, tmpfs_options=merge_tmpfs_options(opts))
    vol = m.get("VolumeOptions") or {}
    if source:
        validate_volume_name(source)
    driver_cfg = vol.get("DriverConfig") or {}
    return MountPoint(
        "volume",
        dest,
        source,
        rw=rw,
        mode="z",
        copy_data=not vol.get("NoCopy"),
        labels=dict(vol.get("Labels") or {}),
        driver=str(driver_cfg.get("Name") or "local"),
        driver_options=dict(driver_cfg.get("Options") or {}),
    )


def parse_all(
    config: Json, host_config: Json, exists: Callable[[str], bool] = os.path.exists
) -> list[MountPoint]:
    """Every mount of a container in Docker's order: Binds, Mounts, Tmpfs, then the image's
    VOLUMEs not already covered. Raises Docker's 400 on the first bad spec or a duplicate."""
    points: list[MountPoint] = [parse_bind(b) for b in host_config.get("Binds") or []]
    points += [parse_mount(m, exists) for m in host_config.get("Mounts") or []]
    seen: set[str] = set()
    for p in points:
        if p.destination in seen:
            raise InvalidParameter(f"Duplicate mount point: {p.destination}")
        seen.add(p.destination)
    for dest, opts in (host_config.get("Tmpfs") or {}).items():
        t = parse_tmpfs(dest, str(opts or ""))
        if t.destination in seen:
            raise InvalidParameter(f"Duplicate mount point: {t.destination}")
        seen.add(t.destination)
        points.append(t)
    for dest in sorted(config.get("Volumes") or {}):
        if not dest.startswith("/"):
            raise InvalidParameter(f"invalid mount path: '{dest}' mount path must be absolute")
        path = posixpath.normpath(dest)
        if path not in seen:
            seen.add(path)
            points.append(MountPoint("volume", path))
    return points
