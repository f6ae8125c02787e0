"""The Engine API server: an aiohttp application on a root-only unix socket."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

from dockyard.api.engine import API_VERSION, ENGINE, Engine
from dockyard.api.errors import error_middleware
from dockyard.api.routes import register
from dockyard.config import API_VERSION as MAX_VERSION
from dockyard.config import ENGINE_VERSION, MIN_API_VERSION
from dockyard.errors import InvalidParameter

log = logging.getLogger(__name__)

SERVER_HEADER = f"Docker/{ENGINE_VERSION} (linux)"
SOCKET_MODE = 0o660


def parse_version(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    try:
        return int(major), int(minor or 0)
    except ValueError:
        raise InvalidParameter(f"invalid API version: {text}") from None


_MAX = parse_version(MAX_VERSION)
_MIN = parse_version(MIN_API_VERSION)


@web.middleware
async def version_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Reject versions outside [1.24, 1.44] with dockerd's words; remember the negotiated one."""
    asked = request.match_info.get("version")
    version = _MAX
    if asked is not None:
        version = parse_version(asked)
        if version > _MAX:
            raise InvalidParameter(
                f"client version {asked} is too new. Maximum supported API version is {MAX_VERSION}"
            )
        if version < _MIN:
            raise InvalidParameter(
                f"client version {asked} is too old. Minimum supported API version is "
                f"{MIN_API_VERSION}, please upgrade your client to a newer version"
            )
    request[API_VERSION] = version
    return await handler(request)


async def _common_headers(request: web.Request, response: web.StreamResponse) -> None:
    # dockerd sends these on every answer, so clients can negotiate from any response.
    response.headers["Server"] = SERVER_HEADER
    response.headers.setdefault("Api-Version", MAX_VERSION)
    response.headers.setdefault("Docker-Experimental", "false")
    response.headers.setdefault("Ostype", "linux")


def make_app(engine: Engine) -> web.Application:
    app = web.Application(
        middlewares=[error_middleware, version_middleware],
        client_max_size=0,  # bodies are tars and contexts of any size; handlers stream them
    )
    app[ENGINE] = engine
    app.on_response_prepare.append(_common_headers)
    register(app)
    return app


async def serve(engine: Engine, socket_path: Path) -> web.AppRunner:
    """Start serving; the caller keeps the runner and calls `await runner.cleanup()` to stop."""
    _remove_stale_socket(socket_path)
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    # handler_cancellation: a client that hangs up stops its wait/events/logs handler.
    # shutdown_timeout: open streams (events, logs -f, attach) must not hold up daemon exit.
    runner = web.AppRunner(
        make_app(engine), handler_cancellation=True, access_log=None, shutdown_timeout=2.0
    )
    await runner.setup()
    old_umask = os.umask(0o117)  # the socket is never world-accessible, not even briefly
    try:
        site = web.UnixSite(runner, str(socket_path))
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    finally:
        os.umask(old_umask)
    os.chmod(socket_path, SOCKET_MODE)
    log.info("API listening on %s", socket_path)
    return runner


def _remove_stale_socket(path: Path) -> None:
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise FileExistsError(f"{path} exists and is not a socket")
    path.unlink()
