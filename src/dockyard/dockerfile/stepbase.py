"""The step machinery every instruction uses (MISSION S1): the cache probe (parent image +
step key; once a step misses, the rest of the stage builds), committing a step's image, and the
read-only view of an image's filesystem."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.core.types import Json
from dockyard.dockerfile.commit import StepCommitter
from dockyard.dockerfile.images import BuildImages
from dockyard.dockerfile.plan import BuildOptions
from dockyard.dockerfile.rootview import RootView
from dockyard.dockerfile.runner import StepRunner
from dockyard.dockerfile.stage import DEFAULT_SHELL, StageState, short, stream
from dockyard.state.buildcache import BuildCacheRepo
from dockyard.state.images import ImageRecord
from dockyard.storage.protocols import LayerStore


class StepBase:
    def __init__(
        self,
        images: BuildImages,
        layers: LayerStore,
        cache: BuildCacheRepo,
        runner: StepRunner,
        context: Path,
        tmp: Path,
        opts: BuildOptions,
    ) -> None:
        self.images = images
        self.layers = layers
        self.cache = cache
        self.runner = runner
        self.context = context
        self.tmp = tmp
        self.opts = opts
        self.committer = StepCommitter(images)
        self.stage_images: dict[str, str | None] = {}
        self.used_args: set[str] = set()
        self.global_args: dict[str, str | None] = {}
        self._sources: set[str] | None = None  # _cache_sources(), once

    def _nop(self, shell: list[str], comment: str) -> list[str]:
        return [*shell, "#(nop) ", comment]

    def _cache_sources(self) -> set[str] | None:
        """With `cachefrom`, the images a cache hit may be: those named (the missing ones
        skipped, as dockerd does) and their parents, as dockerd's cache takes a local hit
        only when it is a parent of a source. None: any image."""
        if not self.opts.cachefrom:
            return None
        if self._sources is None:
            sources: set[str] = set()
            for ref in self.opts.cachefrom:
                try:
                    rec: ImageRecord | None = self.images.resolve(ref)
                except errors.NotFound:
                    continue
                while rec is not None and rec.id not in sources:
                    sources.add(rec.id)
                    rec = self.images.repo.get(rec.parent) if rec.parent else None
            self._sources = sources
        return self._sources

    def _probe(self, state: StageState, key: str) -> str | None:
        if self.opts.nocache or state.busted or state.image_id is None:
            return None
        found = self.cache.lookup(state.image_id, key)
        sources = self._cache_sources()
        if sources is not None and found not in sources:
            found = None
        if found is not None and self.images.repo.get(found) is not None:
            return found
        state.busted = True
        return None

    def _adopt(self, state: StageState, image_id: str, cfg: Json | None = None) -> None:
        state.image_id = image_id
        state.config = copy.deepcopy(
            cfg if cfg is not None else self.images.config(image_id).get("config") or {}
        )

    async def _cached(self, state: StageState, key: str) -> AsyncIterator[Json]:
        found = await asyncio.to_thread(self._probe, state, key)
        if found is not None:
            await asyncio.to_thread(self._adopt, state, found)
            yield stream(" ---> Using cache\n")
            yield stream(f" ---> {short(found)}\n")

    async def _finish(
        self, state: StageState, key: str, image_id: str, cfg: Json
    ) -> AsyncIterator[Json]:
        parent = state.image_id
        if parent is not None:
            await asyncio.to_thread(self.cache.store, parent, key, image_id)
        state.image_id = image_id
        state.config = cfg
        yield stream(f" ---> {short(image_id)}\n")

    async def _metadata(
        self, state: StageState, cfg: Json, comment: str, layer: Any = None
    ) -> AsyncIterator[Json]:
        shell = list(state.config.get("Shell") or DEFAULT_SHELL)
        key = f"nop {comment}" + ("\nmkdir" if layer is not None else "")
        hit = False
        async for msg in self._cached(state, key):
            hit = True
            yield msg
        if hit:
            return
        cmd = self._nop(shell, comment)
        ccfg = {**cfg, "Cmd": cmd, "Image": state.image_id or ""}
        image_id = await asyncio.to_thread(
            self.committer.commit, state.image_id, cfg, " ".join(cmd), layer, ccfg
        )
        async for msg in self._finish(state, key, image_id, cfg):
            yield msg

    def _view(self, image_id: str | None) -> RootView:
        if image_id is None:
            return RootView([])
        top = self.images.get(image_id).top_chain_id
        return RootView(self.layers.diff_dirs(top) if top else [])

    async def _metadata_layer(
        self, state: StageState, key: str, comment: str, layer: Any
    ) -> AsyncIterator[Json]:
        hit = False
        async for msg in self._cached(state, key):
            hit = True
            yield msg
        if hit:
            return
        shell = list(state.config.get("Shell") or DEFAULT_SHELL)
        cmd = [*shell, "#(nop) " + comment]  # one word: Docker's COPY/ADD comment, one space
        cfg = copy.deepcopy(state.config)
        ccfg = {**cfg, "Cmd": cmd, "Image": state.image_id or ""}
        layer.seek(0)
        image_id = await asyncio.to_thread(
            self.committer.commit, state.image_id, cfg, " ".join(cmd), layer, ccfg
        )
        async for msg in self._finish(state, key, image_id, cfg):
            yield msg
