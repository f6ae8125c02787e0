"""The build service (MISSION S1): `POST /build` and `POST /build/prune`.

Lifecycle of a build job: `prepare()` (blocking, in a worker thread) validates the tags, unpacks
the context into <data-root>/tmp/build-*, reads and parses the Dockerfile and applies
.dockerignore: every error there is an HTTP error, and the context directory is removed with it.
`run()` streams the progress of the legacy builder and ends with the aux ID, "Successfully
built/tagged" lines, or an errorDetail; `close()` removes the context directory (idempotent).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from dockyard import errors
from dockyard.config import Config
from dockyard.core.types import Json
from dockyard.crashpoints import crashpoint
from dockyard.dockerfile import context, parser
from dockyard.dockerfile.builder import Builder, BuildError, short, stream
from dockyard.dockerfile.copier import in_scope
from dockyard.dockerfile.images import BuildImages
from dockyard.dockerfile.plan import BuildOptions, Plan, make_plan
from dockyard.dockerfile.runner import Containers, StepRunner
from dockyard.images import reference
from dockyard.state.buildcache import BuildCacheRepo
from dockyard.state.db import Database
from dockyard.storage.protocols import LayerStore

log = logging.getLogger(__name__)


class BuildJob:
    def __init__(self, service: Build, ctx: Path, plan: Plan, opts: BuildOptions) -> None:
        self.service = service
        self.ctx = ctx
        self.plan = plan
        self.opts = opts
        self._open = True

    async def run(self) -> AsyncIterator[Json]:
        svc = self.service
        builder = Builder(
            svc.images,
            svc.layers,
            svc.cache,
            StepRunner(svc.containers, quiet=self.opts.quiet),
            self.ctx,
            svc.cfg.tmp_root,
            self.opts,
        )
        try:
            async for msg in builder.run(self.plan):
                # text, and a FROM's pull progress; -q keeps only the final id, as dockerd
                if not self.opts.quiet and (msg.get("stream") or "status" in msg):
                    yield msg
            image_id = builder.result
            if image_id is None:
                raise BuildError("No image was generated. Is your Dockerfile empty?")
            crashpoint("build.before-tag")
            for t in self.opts.tags:
                ref = reference.parse(t).with_default_tag()
                await asyncio.to_thread(svc.images.tag_as, image_id, ref)
        except BuildError as e:
            yield _error(e.message, e.code)
            return
        except errors.DockyardError as e:
            yield _error(e.message, 0)
            return
        yield {"aux": {"ID": image_id}}
        if self.opts.quiet:
            yield stream(image_id + "\n")
            return
        yield stream(f"Successfully built {short(image_id)}\n")
        for t in self.opts.tags:
            yield stream(
                f"Successfully tagged {reference.parse(t).with_default_tag().familiar()}\n"
            )

    def close(self) -> None:
        shutil.rmtree(self.ctx, ignore_errors=True)
        if self._open:
            self._open = False
            self.service.images.activity.leave()


def _error(message: str, code: int) -> Json:
    detail: Json = {"code": code, "message": message} if code else {"message": message}
    return {"errorDetail": detail, "error": message}


class Build:
    def __init__(
        self,
        cfg: Config,
        db: Database,
        images: BuildImages,
        layers: LayerStore,
        containers: Containers,
    ) -> None:
        self.cfg = cfg
        self.cache = BuildCacheRepo(db)
        self.images = images
        self.layers = layers
        self.containers = containers
        self.limits = context.Limits()

    def prepare(self, src: BinaryIO, opts: BuildOptions) -> BuildJob:
        for t in opts.tags:
            ref = reference.parse(t)
            if ref.digest is not None:
                raise errors.InvalidParameter("refusing to create a tag with a digest reference")
        self.cfg.tmp_root.mkdir(parents=True, exist_ok=True)
        self.images.activity.enter()  # until BuildJob.close(): its context is in tmp
        ctx = Path(tempfile.mkdtemp(prefix="build-", dir=self.cfg.tmp_root))
        try:
            context.extract(src, ctx, self.limits)
            crashpoint("build.after-context")
            name = opts.dockerfile or "Dockerfile"
            path = in_scope(ctx, name)
            if not path.is_file() and name == "Dockerfile":
                path = in_scope(ctx, "dockerfile")
            if not path.is_file():
                raise errors.InvalidParameter(f"Cannot locate specified Dockerfile: {name}")
            text = path.read_text(errors="replace")
            instructions = parser.parse(text)
            plan = make_plan(instructions, parser.escape_of(text), opts)
            # read already: as dockerd, they leave the context too when .dockerignore says so
            context.apply_dockerignore(ctx, keep=set())
        except BaseException:
            shutil.rmtree(ctx, ignore_errors=True)
            self.images.activity.leave()
            raise
        return BuildJob(self, ctx, plan, opts)

    def prune(self) -> Json:
        ids = self.cache.prune()
        return {"CachesDeleted": ids or None, "SpaceReclaimed": 0}
