"""Resolving Docker's `--user` against the container's own /etc/passwd and /etc/group.

Pure functions over the files' text, so the caller reads them from the mounted rootfs and the
logic is unit-testable. Semantics follow runc's libcontainer/user (what Docker uses)."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard import errors


@dataclass(frozen=True)
class PasswdEntry:
    name: str
    uid: int
    gid: int


@dataclass(frozen=True)
class GroupEntry:
    name: str
    gid: int
    members: tuple[str, ...]


def parse_passwd(text: str) -> list[PasswdEntry]:
    out = []
    for line in text.splitlines():
        f = line.strip().split(":")
        if len(f) < 4 or line.startswith("#"):
            continue
        try:
            out.append(PasswdEntry(f[0], int(f[2]), int(f[3])))
        except ValueError:
            continue
    return out


def parse_group(text: str) -> list[GroupEntry]:
    out = []
    for line in text.splitlines():
        f = line.strip().split(":")
        if len(f) < 3 or line.startswith("#"):
            continue
        try:
            members = tuple(m for m in (f[3].split(",") if len(f) > 3 else []) if m)
            out.append(GroupEntry(f[0], int(f[2]), members))
        except ValueError:
            continue
    return out


def _group_id(spec: str, groups: list[GroupEntry]) -> int:
    for g in groups:
        if g.name == spec:
            return g.gid
    if spec.isdigit():
        return int(spec)
    raise errors.System(f"unable to find group {spec}: no matching entries in group file")


def resolve_user(
    user_spec: str, passwd_text: str, group_text: str, group_add: tuple[str, ...] = ()
) -> tuple[int, int, list[int]]:
    """`user[:group]` (names or ids) -> (uid, gid, additional gids). Empty means root.
    A numeric uid absent from passwd is allowed (gid 0), an unknown name is Docker's error."""
    user, _, group = (user_spec or "").partition(":")
    passwd = parse_passwd(passwd_text)
    groups = parse_group(group_text)
    entry: PasswdEntry | None = None
    if user:
        entry = next((p for p in passwd if p.name == user), None)
        if entry is None and user.isdigit():
            entry = next((p for p in passwd if p.uid == int(user)), None)
            if entry is None:
                entry = PasswdEntry("", int(user), 0)
        if entry is None:
            raise errors.System(f"unable to find user {user}: no matching entries in passwd file")
    else:
        entry = next((p for p in passwd if p.uid == 0), PasswdEntry("root", 0, 0))
    gid = _group_id(group, groups) if group else entry.gid
    extra: list[int] = []
    if entry.name and not group:
        # Supplementary groups come from the group file only when no explicit group was given.
        extra = [g.gid for g in groups if entry.name in g.members]
    for spec in group_add:
        g = _group_id(spec, groups)
        if g not in extra:
            extra.append(g)
    return entry.uid, gid, extra
