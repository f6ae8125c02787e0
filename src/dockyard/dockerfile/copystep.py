"""COPY and ADD steps (MISSION S1): expand the arguments, refuse URLs and remote sources (no
network), resolve the sources in the context or in another stage's or image's root (mounted
read-only for the step through a temporary layer, removed afterwards), then write the layer
tar and commit it through the cache."""

from __future__ import annotations

import asyncio
import secrets
import stat
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.core.types import Json
from dockyard.crashpoints import crashpoint
from dockyard.dockerfile import copier, expand
from dockyard.dockerfile.parser import Instruction
from dockyard.dockerfile.rootview import RootView, lookup_id
from dockyard.dockerfile.stage import BuildError, StageState
from dockyard.dockerfile.stepbase import StepBase


class CopySteps(StepBase):
    def _env(self, state: StageState) -> dict[str, str]:
        raise NotImplementedError

    async def _copy(self, ins: Instruction, state: StageState, escape: str) -> AsyncIterator[Json]:
        what = ins.cmd
        env = self._env(state)
        try:
            words = (
                [expand.word(w, env, escape) for w in ins.json]
                if ins.json is not None
                else expand.words(ins.rest, env, escape)
            )
        except errors.InvalidParameter as e:
            raise BuildError(e.message) from None
        if len(words) < 2:
            raise BuildError(
                f"{what} requires at least two arguments, but only one was provided. Destination could not be determined."
            )
        srcs, dest = words[:-1], words[-1]
        for s in srcs:
            if what == "ADD" and (s.startswith("http://") or s.startswith("https://")):
                raise BuildError(
                    f'ADD failed: Get "{s}": no network access: dockyard\'s builder does not download URLs'
                )
            if s.startswith("git@") or s.endswith(".git") and "://" in s:
                raise BuildError(f"{what} failed: remote sources are not supported: {s}")
        async for msg in self._copy_from(ins, state, srcs, dest):
            yield msg

    async def _copy_from(
        self, ins: Instruction, state: StageState, srcs: list[str], dest: str
    ) -> AsyncIterator[Json]:
        src_from = ins.flags.get("from", "")
        mount_id = ""
        root = self.context
        try:
            if src_from:
                root, mount_id = await asyncio.to_thread(self._mount_source, src_from)
                crashpoint("build.after-source-mount")
            view = await asyncio.to_thread(self._view, state.image_id)
            layer, key, comment = await asyncio.to_thread(
                self._prepare_copy, ins, state, view, root, srcs, dest, not src_from
            )
        finally:
            if mount_id:
                await asyncio.to_thread(self._unmount_source, mount_id)
        with layer:
            crashpoint("build.after-copy-tar")
            async for msg in self._metadata_layer(state, key, comment, layer):
                yield msg

    def _mount_source(self, ref: str) -> tuple[Path, str]:
        image_id = self.stage_images.get(ref.lower(), "missing")
        if image_id == "missing":
            if ref.isdigit():
                raise BuildError(f"invalid from flag value {ref}: refers to current build stage")
            try:
                image_id = self.images.resolve(ref).id
            except errors.DockyardError as e:
                raise BuildError(f"invalid from flag value {ref}: {e.message}") from None
        top = self.images.get(image_id).top_chain_id if image_id else None
        mount_id = "build-" + secrets.token_hex(16)
        self.layers.create_rw(mount_id, top)
        try:
            return self.layers.mount(mount_id), mount_id
        except BaseException:
            self.layers.remove_rw(mount_id)
            raise

    def _unmount_source(self, mount_id: str) -> None:
        try:
            self.layers.unmount(mount_id)
        finally:
            self.layers.remove_rw(mount_id)

    def _prepare_copy(
        self, ins: Instruction, state: StageState, view: RootView, root: Path,
        srcs: list[str], dest: str, from_context: bool,
    ) -> tuple[Any, str, str]:  # fmt: skip
        what = ins.cmd
        try:
            sources = copier.resolve_sources(root, srcs, what, from_context)
            p = copier.plan(
                sources, dest, state.config.get("WorkingDir") or "/", what,
                lambda path: _is_dir(view, path),
            )  # fmt: skip
        except errors.InvalidParameter as e:
            raise BuildError(e.message) from None
        uid, gid = self._chown(ins.flags.get("chown", ""), view)
        chmod = None
        if "chmod" in ins.flags:
            try:
                chmod = int(ins.flags["chmod"], 8)
            except ValueError:
                raise BuildError(f"invalid chmod parameter: {ins.flags['chmod']}") from None
        layer = tempfile.NamedTemporaryFile(dir=self.tmp, suffix=".tar")  # noqa: SIM115
        try:
            extract = (
                (lambda path: copier.is_archive(path))
                if what == "ADD" and from_context
                else (lambda _: False)
            )
            copier.write_layer(layer, p, view, uid, gid, chmod, extract)
        except BaseException:
            layer.close()
            raise
        flags = " ".join(f"--{k}={v}" for k, v in sorted(ins.flags.items()))
        comment = f"{what} {p.kind}:{p.digest} in {dest} "
        key = f"{what} {flags} {p.kind}:{p.digest} in {p.dest} {uid}:{gid}"
        return layer, key, comment

    def _chown(self, spec: str, view: RootView) -> tuple[int, int]:
        if not spec:
            return 0, 0
        user, _, group = spec.partition(":")
        uid = int(user) if user.isdigit() else lookup_id(view, "/etc/passwd", user)
        if uid is None:
            raise BuildError(
                f"unable to convert uid/gid chown string to host mapping: can't find uid for user {user}: no such user: {user}"
            )
        if not group:
            gid = uid if user.isdigit() else _primary_gid(view, user, uid)
        else:
            found = int(group) if group.isdigit() else lookup_id(view, "/etc/group", group)
            if found is None:
                raise BuildError(
                    f"unable to convert uid/gid chown string to host mapping: can't find gid for group {group}: no such group: {group}"
                )
            gid = found
        return uid, gid


def _is_dir(view: RootView, path: str) -> bool:
    st = view.lstat(path)
    return st is not None and stat.S_ISDIR(st.st_mode)


def _primary_gid(view: RootView, user: str, uid: int) -> int:
    raw = view.read("/etc/passwd") or b""
    for line in raw.decode(errors="replace").splitlines():
        f = line.split(":")
        if len(f) >= 4 and f[0] == user and f[3].isdigit():
            return int(f[3])
    return uid
