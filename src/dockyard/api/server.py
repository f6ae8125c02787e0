"""The Engine API server: an aiohttp application on a root-only unix socket."""

from __future__ import annotations

import logging
import os
import socket
import stat
import warnings
from pathlib import Path

from aiohttp import web

from dockyard.api.dashboard.control import DASHBOARD
from dockyard.api.dashboard.server import Dashboard
from dockyard.api.engine import ENGINE, Engine
from dockyard.api.lean import LeanUnixSite
from dockyard.api.router import EngineRouter
from dockyard.api.routes import register
from dockyard.config import API_VERSION as MAX_VERSION
from dockyard.config import ENGINE_VERSION

log = logging.getLogger(__name__)

SERVER_HEADER = f"Docker/{ENGINE_VERSION} (linux)"
SOCKET_MODE = 0o660


# dockerd sends these on every answer, so clients can negotiate from any response.
COMMON_HEADERS = {
    "Server": SERVER_HEADER,
    "Api-Version": MAX_VERSION,
    "Docker-Experimental": "false",
    "Ostype": "linux",
}


async def _common_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = SERVER_HEADER  # replaces aiohttp's own
    for key, value in COMMON_HEADERS.items():
        response.headers.setdefault(key, value)


def make_app(engine: Engine) -> web.Application:
    router = EngineRouter()  # version prefix, route lookup and error mapping: api/router.py
    with warnings.catch_warnings():
        # aiohttp deprecates `router=` (not removed in the pinned 3.14); it is the only hook
        # for our own resolution (docs/decisions.md D-api-router).
        warnings.simplefilter("ignore", DeprecationWarning)
        app = web.Application(
            router=router,
            client_max_size=0,  # bodies are tars and contexts of any size; handlers stream them
        )
    app[ENGINE] = engine
    app[DASHBOARD] = dashboard = Dashboard(engine)  # listens once asked to (#18, D-dash-1)
    app.on_response_prepare.append(_common_headers)

    async def close_dashboard(_app: web.Application) -> None:
        await dashboard.close()

    app.on_cleanup.append(close_dashboard)
    register(router)
    return app


async def serve(
    engine: Engine, socket_path: Path, inherited: socket.socket | None = None
) -> web.AppRunner:
    """Start serving; the caller keeps the runner and calls `await runner.cleanup()` to stop.
    `inherited`: the listening socket a recycled daemon handed over (it is at `socket_path`)."""
    if inherited is None:
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
        # small calls are answered by api/lean.py; the rest is handed to aiohttp
        site = LeanUnixSite(runner, str(socket_path), COMMON_HEADERS, sock=inherited)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    finally:
        os.umask(old_umask)
    if inherited is None:
        os.chmod(socket_path, SOCKET_MODE)
    log.info("API listening on %s", socket_path)
    return runner


def lean_site(runner: web.AppRunner) -> LeanUnixSite:
    site = next(iter(runner.sites))
    assert isinstance(site, LeanUnixSite)
    return site


def _remove_stale_socket(path: Path) -> None:
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise FileExistsError(f"{path} exists and is not a socket")
    path.unlink()
