"""The legacy builder (MISSION S1): runs a Plan step by step, one image per step, and yields
Docker's progress messages (`{"stream": ...}`, `{"aux": {"ID": ...}}`).

Lifecycle of a build: the service has unpacked the context and parsed the Dockerfile (errors
there are HTTP errors); `run()` then walks the stages: FROM resolves the base (image, earlier
stage or scratch) and fires ONBUILD triggers; every other step first asks the cache (parent
image, resolved instruction, content hash of COPY/ADD inputs) and otherwise executes: metadata
steps add history only, RUN runs a container of the step's image and commits its writable layer,
COPY/ADD write their layer tar directly. A failure raises BuildError after removing whatever the
step made (container, temp files); images of finished steps stay, as Docker keeps them.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import tempfile
from collections.abc import AsyncIterator
from typing import Any

from dockyard import errors
from dockyard.core.types import Json
from dockyard.crashpoints import crashpoint
from dockyard.dockerfile import copier, expand, steps
from dockyard.dockerfile.copystep import CopySteps
from dockyard.dockerfile.parser import Instruction, parse_line
from dockyard.dockerfile.plan import Plan, Stage
from dockyard.dockerfile.stage import DEFAULT_SHELL, BuildError, StageState, short, stream
from dockyard.images import config as image_config
from dockyard.images import healthcheck, reference

log = logging.getLogger(__name__)
__all__ = ["BuildError", "Builder", "short", "stream"]


class Builder(CopySteps):
    """Builds one Plan; `result` holds the final image id after `run()` ends."""

    result: str | None = None

    # ---- the walk ----------------------------------------------------------------------

    async def run(self, plan: Plan) -> AsyncIterator[Json]:
        n = 0
        total = plan.total
        for ins in plan.meta_args:
            n += 1
            yield stream(f"Step {n}/{total} : {ins.original}")
            yield stream("\n")
            for k, v in self._arg_pairs(ins, self.global_args, plan.escape):
                self.global_args[k] = self._build_arg(k, v)
        state = StageState()
        for stage in plan.stages:
            n += 1
            yield stream(f"Step {n}/{total} : {stage.base.original}")
            yield stream("\n")
            base = self._base_ref(stage, plan.escape)
            if await asyncio.to_thread(self._needs_pull, base):
                async for msg in self._pull(base):
                    yield msg
            state = await asyncio.to_thread(self._from, base)
            yield stream(f" ---> {short(state.image_id)}\n" if state.image_id else "")
            triggers = list(state.config.get("OnBuild") or [])
            if triggers:
                state.config["OnBuild"] = None
                s = "s" if len(triggers) > 1 else ""
                yield stream(f"# Executing {len(triggers)} build trigger{s}\n")
                for text in triggers:
                    async for msg in self._step(parse_line(stage.base.line, text), state, plan):
                        yield msg
            for ins in stage.commands:
                n += 1
                yield stream(f"Step {n}/{total} : {ins.original}")
                yield stream("\n")
                async for msg in self._step(ins, state, plan):
                    yield msg
            if stage.name:
                self.stage_images[stage.name] = state.image_id
            self.stage_images[str(stage.index)] = state.image_id
        if state.image_id is None:
            raise BuildError("No image was generated. Is your Dockerfile empty?")
        unused = sorted(set(self.opts.buildargs) - self.used_args - _PREDEFINED)
        if unused:
            yield stream(
                f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed\n"
            )
        self.result = state.image_id

    # ---- FROM --------------------------------------------------------------------------

    def _base_ref(self, stage: Stage, escape: str) -> str:
        env = {k: v for k, v in self.global_args.items() if v is not None}
        return expand.word(expand.raw_words(stage.base.rest, escape)[0], env, escape)

    def _needs_pull(self, ref: str) -> bool:
        """--pull pulls every base; else a base that is neither scratch, an earlier stage nor
        a local image is pulled (E5), as dockerd does."""
        if ref.lower() == "scratch" or ref.lower() in self.stage_images:
            return False
        if self.opts.pull:
            return True
        try:
            self.images.resolve(ref)
        except errors.NotFound:
            return True
        return False

    async def _pull(self, ref: str) -> AsyncIterator[Json]:
        """The pull's own progress messages, in the build stream (the docker CLI draws them)."""
        named = reference.parse(ref)
        tag = None if named.tag or named.digest else reference.DEFAULT_TAG
        lines = await asyncio.to_thread(self.images.pull_progress, ref, tag)
        while (line := await asyncio.to_thread(next, lines, None)) is not None:
            msg = json.loads(line)
            if "error" in msg:
                raise BuildError(msg["error"])
            yield msg

    def _from(self, ref: str) -> StageState:
        state = StageState()
        if ref.lower() == "scratch":
            return state
        if ref.lower() in self.stage_images:
            image_id = self.stage_images[ref.lower()]
        else:
            image_id = self.images.resolve(ref).id
        state.image_id = image_id
        if image_id is not None:
            state.config = copy.deepcopy(self.images.config(image_id).get("config") or {})
        if "PATH" not in steps.env_map(state.config):
            steps.set_env(state.config, "PATH", image_config.DEFAULT_PATH)
        return state

    # ---- one step ------------------------------------------------------------------------

    def _env(self, state: StageState) -> dict[str, str]:
        env = {k: v for k, v in state.args.items() if v is not None}
        env.update(steps.env_map(state.config))
        return env

    def _build_arg(self, name: str, default: str | None) -> str | None:
        if name in self.opts.buildargs:
            self.used_args.add(name)
            given = self.opts.buildargs[name]
            return given if given is not None else default
        return default

    def _arg_pairs(
        self, ins: Instruction, env: dict[str, str | None], escape: str
    ) -> list[tuple[str, str | None]]:
        out: list[tuple[str, str | None]] = []
        known = {k: v for k, v in env.items() if v is not None}
        for w in expand.raw_words(ins.rest, escape):
            if "=" in w:
                k, v = w.split("=", 1)
                out.append((k, expand.word(v, known, escape)))
            else:
                out.append((w, None))
        return out

    async def _step(self, ins: Instruction, state: StageState, plan: Plan) -> AsyncIterator[Json]:
        escape = plan.escape
        shell = list(state.config.get("Shell") or DEFAULT_SHELL)
        if ins.cmd == "ARG":
            for k, v in self._arg_pairs(ins, {**state.args, **steps.env_map(state.config)}, escape):
                if v is None and k in self.global_args:
                    v = self.global_args[k]
                state.args[k] = self._build_arg(k, v)
            comment = "ARG " + " ".join(
                k if state.args[k] is None else f"{k}={state.args[k]}"
                for k, _ in self._arg_pairs(ins, {}, escape)
            )
            async for msg in self._metadata(state, state.config, comment):
                yield msg
            return
        if ins.cmd == "RUN":
            async for msg in self._run(ins, state, shell):
                yield msg
            return
        if ins.cmd in ("COPY", "ADD"):
            async for msg in self._copy(ins, state, escape):
                yield msg
            return
        env = self._env(state)
        note = healthcheck.overridden(state.config.get("Healthcheck"))
        if ins.cmd == "HEALTHCHECK" and note:
            yield {"stream": note}
        try:
            cfg, comment = steps.apply(ins, state.config, env, escape, shell)
        except errors.InvalidParameter as e:
            raise BuildError(e.message) from None
        if ins.cmd == "WORKDIR":
            async for msg in self._workdir(state, cfg, comment):
                yield msg
            return
        async for msg in self._metadata(state, cfg, comment):
            yield msg

    # ---- WORKDIR, RUN, COPY/ADD ------------------------------------------------------------
    async def _workdir(self, state: StageState, cfg: Json, comment: str) -> AsyncIterator[Json]:
        path = cfg["WorkingDir"]
        view = await asyncio.to_thread(self._view, state.image_id)
        if view.lstat(path) is not None:
            async for msg in self._metadata(state, cfg, comment):
                yield msg
            return
        tmp = tempfile.NamedTemporaryFile(dir=self.tmp, suffix=".tar")  # noqa: SIM115
        with tmp:
            plan = copier.CopyPlan([], path, True, kind="dir")
            await asyncio.to_thread(copier.write_layer, tmp, plan, view, 0, 0, None)
            tmp.seek(0)
            async for msg in self._metadata(state, cfg, comment, layer=tmp):
                yield msg

    async def _run(
        self, ins: Instruction, state: StageState, shell: list[str]
    ) -> AsyncIterator[Json]:
        argv = steps.command_form(ins, shell)
        env_keys = {e.partition("=")[0] for e in state.config.get("Env") or []}
        args = sorted(
            f"{k}={v}" for k, v in state.args.items() if v is not None and k not in env_keys
        )
        save_cmd = ([f"|{len(args)}", *args] if args else []) + argv
        key = "run " + "\0".join(save_cmd)
        hit = False
        async for msg in self._cached(state, key):
            hit = True
            yield msg
        if hit:
            return
        if state.image_id is None:
            raise BuildError("Please provide a source image with `from` prior to run")
        run_cfg = {**state.config, "Cmd": save_cmd, "Image": state.image_id}
        body: Json = {
            "Image": state.image_id,
            "Cmd": argv,
            "Entrypoint": [""],
            "Env": [*(state.config.get("Env") or []), *args],
            "WorkingDir": state.config.get("WorkingDir") or "",
            "User": state.config.get("User") or "",
            "AttachStdout": True,
            "AttachStderr": True,
            # RUN output is read back from the json-file log, whatever the daemon's default
            "HostConfig": {
                "NetworkMode": self.opts.networkmode or "default",
                "LogConfig": {"Type": "json-file", "Config": {}},
                "ExtraHosts": list(self.opts.extrahosts) or None,
            },
        }
        result: dict[str, Any] = {}
        async for msg in self.runner.run(body, result):
            yield msg
        cid = result["id"]
        crashpoint("build.after-step-container")
        try:
            if result["code"] != 0:
                raise BuildError(
                    f"The command '{' '.join(argv)}' returned a non-zero code: {result['code']}",
                    result["code"],
                )
            image_id = await asyncio.to_thread(
                self.committer.commit,
                state.image_id,
                copy.deepcopy(state.config),
                " ".join(save_cmd),
                self.layers.rw_tar(cid),
                run_cfg,
                cid,
            )
            crashpoint("build.after-step-commit")
        except BaseException:
            await self.runner.remove(cid)
            raise
        if self.opts.rm or self.opts.forcerm:
            await self.runner.remove(cid)
            yield stream(f"Removing intermediate container {cid[:12]}\n")
        async for msg in self._finish(state, key, image_id, copy.deepcopy(state.config)):
            yield msg


_PREDEFINED = {
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
}
