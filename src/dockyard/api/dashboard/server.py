"""The dashboard's listener: one aiohttp application on 127.0.0.1:PORT, started with the daemon
(`--dashboard [PORT]`, daemon.json "dashboard") or later by `dockyard dashboard`, stopped with
the API server. Its token is drawn once per daemon run and is the first segment of every path
(D-dash-1); what is served behind it is api/dashboard/routes.py. A recycled daemon
(recycle.py) hands its listener and token over: the page's address stays valid."""

from __future__ import annotations

import errno
import logging
import secrets
import socket

from aiohttp import web

from dockyard.api.dashboard.routes import DashboardRouter, build
from dockyard.api.engine import ENGINE, Engine
from dockyard.core.types import Json
from dockyard.errors import Conflict, InvalidParameter, System

log = logging.getLogger(__name__)

HOST = "127.0.0.1"  # never another address: the page is for the host's own user (D-dash-1)


class Dashboard:
    """Locates or starts the dashboard; `info()` is what `dockyard dashboard` prints."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.token = secrets.token_urlsafe(24)  # 192 bits, URL-safe
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def running(self) -> bool:
        return self._runner is not None

    def info(self) -> Json:
        return {
            "URL": f"http://{HOST}:{self.port}/{self.token}/",
            "Address": HOST,
            "Port": self.port,
            "Token": self.token,
        }

    async def start(self, port: int = 0, sock: socket.socket | None = None) -> Json:
        """Serve on `port` (0: a free one), or on the listening `sock` a recycled daemon handed
        over, unless already serving; asking for another port than the one in use is a
        conflict."""
        if not 0 <= port <= 65535:
            raise InvalidParameter(f"invalid port: {port}")
        if self._runner is not None:
            if port not in (0, self.port):
                raise Conflict(f"the dashboard already listens on {HOST}:{self.port}")
            return self.info()
        router = DashboardRouter(self.token)
        app = build(router)
        app[ENGINE] = self._engine
        runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=1)
        await runner.setup()
        site: web.BaseSite = (
            web.SockSite(runner, sock)
            if sock is not None
            else web.TCPSite(runner, HOST, port, reuse_address=True)
        )
        try:
            await site.start()
        except OSError as e:
            await runner.cleanup()
            if e.errno == errno.EADDRINUSE:
                raise System(f"listen tcp {HOST}:{port}: bind: address already in use") from None
            raise System(f"listen tcp {HOST}:{port}: {e.strerror}") from None
        self.port = int(runner.addresses[0][1])  # the one the kernel chose when asked for 0
        router.allow_port(self.port)
        self._runner = runner
        log.info("dashboard listening on http://%s:%d/", HOST, self.port)
        return self.info()

    def clients(self) -> int:
        server = self._runner.server if self._runner is not None else None
        return len(server.connections) if server is not None else 0

    def listener(self) -> tuple[int, str] | None:
        """(the listening socket's fd, the token) while serving, for a recycle's handover."""
        if self._runner is None:
            return None
        site = next(iter(self._runner.sites))
        server = getattr(site, "_server", None)
        if server is None or not server.sockets:
            return None
        return int(server.sockets[0].fileno()), self.token

    async def close(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
