"""`dockyard daemon`: dockerd's flags, one process serving the Engine API on a unix socket.

SIGTERM/SIGINT stop serving and leave containers running under their shims (live-restore);
SIGHUP reloads daemon.json's reloadable options (debug, the registry settings) and emits
dockerd's `reload` daemon event (D-dpy6-3). Idle after a load, the daemon replaces itself to
give its memory back (recycle.py, handover.py; D-scale-10)."""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import logging
import os
import resource
import signal
import socket
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from dockyard import daemonconfig, errors, handover, heap, ownership, recycle
from dockyard.api import lazyaiohttp
from dockyard.config import DEFAULT_DATA_ROOT, DEFAULT_EXEC_ROOT, Config, default_host, socket_path
from dockyard.runtime import logopts
from dockyard.runtime.cgroups import CgroupHost

log = logging.getLogger("dockyard.daemon")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="dockyard daemon", description="Run the dockyard daemon")
    p.add_argument("-H", "--host", action="append", default=[], help="unix:///path to listen on")
    p.add_argument("--data-root", default=os.environ.get("DOCKYARD_ROOT", DEFAULT_DATA_ROOT))
    p.add_argument("--exec-root", default=DEFAULT_EXEC_ROOT)
    p.add_argument("-l", "--log-level", default="info",
                   choices=["debug", "info", "warn", "error", "fatal"])  # fmt: skip
    p.add_argument("-D", "--debug", action="store_true")
    p.add_argument("-p", "--pidfile", default=None)
    p.add_argument("--cgroup-parent", default="",
                   help="cgroup parent for containers (cgroupfs: a path, default dockyard; "
                        "systemd: a slice, default system.slice)")  # fmt: skip
    p.add_argument("--exec-opt", action="append", default=[],
                   help="native.cgroupdriver=cgroupfs|systemd (default: systemd on a cgroup v2 "
                        "host that runs systemd, else cgroupfs)")  # fmt: skip
    p.add_argument("-b", "--bridge", default="dockyard0", help="the default bridge's device")
    p.add_argument("--bip", default="", help="the default bridge's address, CIDR")
    p.add_argument("--ipv6", action="store_true", help="IPv6 on the default bridge")
    p.add_argument("--fixed-cidr-v6", default="",
                   help="the default bridge's IPv6 subnet (with --ipv6)")  # fmt: skip
    p.add_argument("--default-address-pool", action="append", default=[],
                   help="base=CIDR,size=N pools for the default bridge's subnet")  # fmt: skip
    p.add_argument("--iptables", default="true", choices=["true", "false"],
                   help="manage dockyard's nftables tables and FORWARD accepts (false: none, "
                        "and published ports are not forwarded)")  # fmt: skip
    p.add_argument("--registry-mirror", action="append", default=[],
                   help="a mirror for docker.io images, tried first")  # fmt: skip
    p.add_argument("--insecure-registry", action="append", default=[],
                   help="host[:port] or CIDR spoken to without TLS verification (127.0.0.0/8 is)")  # fmt: skip
    p.add_argument("--registry-certs-dir", default="",
                   help="dockyard's own: the certs.d directory read after /etc/docker/certs.d "
                        "(default /etc/dockyard/certs.d): HOST:PORT/ca.crt, client.cert, "
                        "client.key")  # fmt: skip
    p.add_argument("--hub-endpoint", default="registry-1.docker.io",
                   help="dockyard's own: where docker.io names are pulled from after the mirrors "
                        "(the tests point it at a closed local port)")  # fmt: skip
    p.add_argument("--max-concurrent-downloads", type=int, default=3)
    p.add_argument("--max-concurrent-uploads", type=int, default=5)
    p.add_argument("--max-download-attempts", type=int, default=5,
                   help="retries of a failed layer download in a pull")  # fmt: skip
    # Hidden, tests only (D-registry-4): one step of the retry countdown, in seconds.
    p.add_argument("--download-retry-unit", type=float, default=1.0, help=argparse.SUPPRESS)
    p.add_argument("--init", action="store_true",
                   help="run an init (tini) as PID 1 in containers that do not choose")  # fmt: skip
    p.add_argument("--init-path", default="", help="the docker-init binary (default: tini-static)")
    p.add_argument("--log-driver", default="json-file",
                   help="containers' default log driver: json-file, local or none")  # fmt: skip
    p.add_argument("--log-opt", action="append", default=[],
                   help="key=value options of the default log driver")  # fmt: skip
    p.add_argument("--dashboard", nargs="?", type=int, const=0, default=None, metavar="PORT",
                   help="dockyard's own: serve the dashboard on 127.0.0.1:PORT (default: a free "
                        "port); `dockyard dashboard` prints its address")  # fmt: skip
    p.add_argument("--recycle-idle", type=float, default=recycle.Policy.idle, metavar="SECONDS",
                   help="dockyard's own: after this long with no API client, a daemon whose "
                        "memory grew by 10%% since it started replaces itself, containers and "
                        "sockets kept (0: never)")  # fmt: skip
    # Hidden, tests only: the growth that makes a recycle worth it (negative: any) and the
    # monitor's sampling period.
    p.add_argument("--recycle-growth", type=float, default=recycle.Policy.growth,
                   help=argparse.SUPPRESS)  # fmt: skip
    p.add_argument("--recycle-tick", type=float, default=recycle.TICK, help=argparse.SUPPRESS)
    p.add_argument(
        "--config-file", default="", help=f"daemon.json (default {daemonconfig.DEFAULT_PATH})"
    )
    ns = p.parse_args(argv)
    ns.argv = list(argv)  # parsed again, with the file, on SIGHUP
    daemonconfig.apply(ns, daemonconfig.explicit_flags(p, argv),
                       ns.config_file or daemonconfig.DEFAULT_PATH, required=bool(ns.config_file))  # fmt: skip
    daemonconfig.validate(ns)
    try:  # dockerd refuses to start with a log option its default driver does not take
        ns.log_driver, ns.log_opts = logopts.daemon_default(ns.log_driver, ns.log_opt)
    except ValueError as e:
        raise daemonconfig.ConfigError(str(e)) from None
    return ns


def _lock(data_root: Path, inherited: int | None = None) -> int:
    fd = (
        inherited
        if inherited is not None
        else os.open(data_root / "dockyard.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    )
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.stderr.write(f"dockyard: another daemon is using {data_root}\n")
        raise SystemExit(1) from None
    return fd


async def _serve(
    cfg: Config,
    args: argparse.Namespace,
    pidfile: Path,
    keep_locks: Callable[[handover.Handover], None],
) -> None:
    from dockyard.api.server import serve
    from dockyard.engine import Engine, EngineOptions

    opts = EngineOptions(
        cgroups=args.cgroups,
        bridge=args.bridge,
        bip=args.bip,
        ipv6=args.ipv6,
        fixed_cidr_v6=args.fixed_cidr_v6,
        default_address_pools=tuple(args.default_address_pool),
        iptables=args.iptables == "true",
        registry=_registry_options(args),
    )
    given = handover.received()  # a recycled predecessor's (recycle.py), or None
    engine = await asyncio.to_thread(Engine, cfg, opts)
    await engine.start(given)
    listener = given.take("api") if given is not None else None
    runner = await serve(engine, cfg.socket, _socket(listener))
    log.info("API listening on %s", cfg.socket)
    try:
        await _open_dashboard(runner, args, given)
    except errors.DockyardError as e:  # #18: a listener it cannot open stops it, as dockerd
        sys.stderr.write(f"dockyard: failed to start daemon: dashboard: {e}\n")
        await runner.cleanup()
        await engine.close()
        cfg.socket.unlink(missing_ok=True)
        raise SystemExit(1) from None
    if given is not None:
        given.close_rest()
        log.info("recycled: serving again, containers re-adopted")
    _notify_systemd(b"READY=1")  # dockyard.service is Type=notify: `systemctl start` waits
    heap.trim()  # start-up's temporaries (imports, restore) are freed: return their pages
    trimmer = asyncio.create_task(heap.trim_periodically())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    reloads: set[asyncio.Task[None]] = set()

    def on_hup() -> None:
        task = asyncio.create_task(_reload(engine, args))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, on_hup)
    successor = handover.Handover()
    stopping = asyncio.create_task(stop.wait())
    due = asyncio.create_task(_recycle_due(runner, engine, args, successor))
    await asyncio.wait((stopping, due), return_when=asyncio.FIRST_COMPLETED)
    recycling = due.done() and not stopping.done()
    for task in (stopping, due, trimmer):
        task.cancel()
    if recycling:
        engine.hand_over(successor)
        keep_locks(successor)
    else:
        successor.abandon()
        log.info("shutting down; containers keep running")
        _notify_systemd(b"STOPPING=1")
    try:
        # Open streams (events, logs -f, wait) must not hold up the exit for long.
        await asyncio.wait_for(runner.cleanup(), timeout=1.0)
    except TimeoutError:
        log.info("API streams still open at shutdown; closing them")
    await engine.close()
    if recycling:
        for h in logging.getLogger().handlers:
            h.flush()
        try:  # the same command line; the pid, the children and the handed-over fds stay
            successor.exec([sys.executable, *sys.orig_argv[1:]])
        except OSError as e:
            log.error("recycle: could not execute the daemon again: %s", e)
    cfg.socket.unlink(missing_ok=True)
    pidfile.unlink(missing_ok=True)
    logging.shutdown()
    # Everything durable is committed and containers run under their own shims: skip the
    # loop's slow teardown of still-open stream handlers and worker threads.
    os._exit(0 if not recycling else 1)


async def _open_dashboard(
    runner: Any, args: argparse.Namespace, given: handover.Handover | None
) -> None:
    """`--dashboard`'s listener, or the one a recycled predecessor handed over (its address
    and token stay what the user has open)."""
    from dockyard.api.dashboard.control import DASHBOARD

    dashboard = runner.app[DASHBOARD]
    held = given.take("dashboard") if given is not None else None
    if held is not None:
        assert given is not None
        dashboard.token = str(given.state["dashboard-token"])
        await dashboard.start(sock=_socket(held))
    elif args.dashboard is not None:
        await dashboard.start(args.dashboard)


async def _recycle_due(
    runner: Any, engine: Any, args: argparse.Namespace, successor: handover.Handover
) -> None:
    """Returns when the daemon should replace itself (recycle.py), having stopped accepting
    and kept the listeners for `successor`; never when the monitor fails (logged)."""
    from dockyard.api.dashboard.control import DASHBOARD
    from dockyard.api.server import lean_site

    site, dashboard = lean_site(runner), runner.app[DASHBOARD]

    def clients() -> tuple[int, int]:
        open_now, accepted = site.clients()
        return open_now + dashboard.clients(), accepted

    def freeze() -> None:  # in the same step as the monitor's last check
        successor.keep("api", site.listening_fd())
        held = dashboard.listener()
        if held is not None:
            successor.keep("dashboard", held[0])
            successor.state["dashboard-token"] = held[1]
        site.stop_accepting()

    policy = recycle.Policy(idle=args.recycle_idle, growth=args.recycle_growth)
    monitor = recycle.Monitor(policy, clients, engine.busy, engine.running, args.recycle_tick)
    monitor.settle()
    try:
        await monitor.wait_due(freeze)
    except Exception:
        log.exception("the recycle monitor failed; the daemon will not recycle")
        await asyncio.Future()  # serve on until stopped


def _socket(fd: int | None) -> socket.socket | None:
    return socket.socket(fileno=fd) if fd is not None else None


def _registry_options(args: argparse.Namespace) -> Any:
    from dockyard.distribution.endpoints import CERTS_DIRS, DOCKER_CERTS_DIR, RegistryOptions

    own_certs = args.registry_certs_dir  # in place of /etc/dockyard/certs.d (D-registry-6)
    return RegistryOptions(
        mirrors=tuple(args.registry_mirror),
        insecure=("127.0.0.0/8", *args.insecure_registry),
        certs_dirs=(DOCKER_CERTS_DIR, Path(own_certs)) if own_certs else CERTS_DIRS,
        max_concurrent_downloads=args.max_concurrent_downloads,
        max_concurrent_uploads=args.max_concurrent_uploads,
        max_download_attempts=args.max_download_attempts,
        retry_unit=args.download_retry_unit,
        hub=args.hub_endpoint,
    )


async def _reload(engine: Any, args: argparse.Namespace) -> None:
    """SIGHUP, as dockerd's: the command line and daemon.json read again; a bad file changes
    nothing (logged, no event); else the reloadable options take effect and `reload` is
    emitted. Options that need a restart (bridge, roots...) keep their running values."""
    try:
        new = await asyncio.to_thread(parse_args, args.argv)
    except (daemonconfig.ConfigError, SystemExit) as e:
        log.error("SIGHUP: the configuration was not reloaded: %s", e)
        return
    level = "debug" if new.debug else new.log_level
    logging.getLogger().setLevel({"warn": "WARNING", "fatal": "CRITICAL"}.get(level, level.upper()))
    engine.reload(new.debug, _registry_options(new))
    log.info("SIGHUP: configuration reloaded")


def _notify_systemd(state: bytes) -> None:
    """sd_notify(3): tell the service manager, when it asked ($NOTIFY_SOCKET), how we are."""
    path = os.environ.get("NOTIFY_SOCKET", "")
    if not path:
        return
    address = "\0" + path[1:] if path.startswith("@") else path  # "@": abstract namespace
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
        try:
            s.sendto(state, address)
        except OSError as e:
            log.warning("could not notify systemd: %s", e)


def _run(main: Coroutine[Any, Any, None]) -> None:
    """On uvloop when it is installed: it halves the cost of each new API connection, which
    is every docker CLI command (docs/decisions.md D-api-uvloop); DOCKYARD_UVLOOP=0 opts out."""
    if os.environ.get("DOCKYARD_UVLOOP") != "0":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            uvloop.run(main)
            return
    asyncio.run(main)


def _raise_open_files() -> None:
    """The soft open-files limit up to the hard one, as dockerd (a Go program) does at start:
    each running container holds a few descriptors in the daemon (its shim's socket, its log),
    so a shell's default 1024 would stop it near 330 containers. Containers inherit it, as
    dockerd's do."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:  # the kernel's ceiling for it is fs.nr_open
        hard = int(Path("/proc/sys/fs/nr_open").read_text())
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (OSError, ValueError) as e:
            logging.getLogger(__name__).warning("raising the open files limit: %s", e)


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except daemonconfig.ConfigError as e:
        sys.stderr.write(f"dockyard: failed to start daemon: {e}\n")
        return 1
    if os.geteuid() != 0:
        sys.stderr.write("dockyard: the daemon must run as root\n")
        return 1
    host = args.host[0] if args.host else default_host()
    level = "debug" if args.debug else args.log_level
    logging.basicConfig(
        level={"warn": "WARNING", "fatal": "CRITICAL"}.get(level, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    cfg = Config(
        data_root=Path(args.data_root),
        exec_root=Path(args.exec_root),
        host="unix://" + socket_path(host),
        log_level=level,
        init=args.init,
        init_path=args.init_path,
        log_driver=args.log_driver,
        log_opts=args.log_opts,
    )
    try:
        args.cgroups = CgroupHost.detect(args.exec_opt, args.cgroup_parent)
    except errors.DockyardError as e:
        sys.stderr.write(f"dockyard: failed to start daemon: {e}\n")
        return 1
    given = handover.received()  # a recycled predecessor's locks are still ours
    heap.limit_arenas()  # before the first worker thread (dockyard/heap.py)
    _raise_open_files()
    lazyaiohttp.install()  # before anything imports aiohttp: the server half only
    cfg.data_root.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock_fd = _lock(cfg.data_root, given.take("lock") if given is not None else None)
    try:
        claims = ownership.claim(
            ownership.resources(
                bridge=args.bridge if args.bridge != "none" else None,
                cgroup_parent=None if args.cgroups.systemd else args.cgroups.parent,
                exec_root=cfg.exec_root,
                socket=cfg.socket,
            ),
            cfg.data_root,
            inherited=given.take_prefix("claim/") if given is not None else None,
        )
    except ownership.Held as e:
        sys.stderr.write(f"dockyard: failed to start daemon: {e}\n")
        os.close(lock_fd)
        return 1
    cfg.ensure_dirs()
    cfg.socket.parent.mkdir(parents=True, exist_ok=True)
    pidfile = Path(args.pidfile) if args.pidfile else cfg.exec_root / "dockyard.pid"
    pidfile.write_text(f"{os.getpid()}\n")

    def keep_locks(successor: handover.Handover) -> None:
        successor.keep("lock", lock_fd)
        claims.hand_over(successor.keeper("claim/"))

    try:
        _run(_serve(cfg, args, pidfile, keep_locks))
    finally:  # reached only when start-up fails
        pidfile.unlink(missing_ok=True)
        claims.release()
        os.close(lock_fd)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
