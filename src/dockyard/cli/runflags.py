"""`run`/`create` flags with docker's names, and their translation into the create body
(Config + HostConfig + NetworkingConfig) exactly as docker-cli sends it. Pure: no I/O but
reading --env-file/--label-file."""

from __future__ import annotations

import argparse
import os
from typing import Any

from dockyard.cli.command import CLIError, Parser, env_file_lines, flag_error
from dockyard.cli.portspec import parse_mount, parse_ports, parse_ulimit
from dockyard.core import timefmt
from dockyard.units import ram_in_bytes


def mem_bytes(flag: str) -> Any:
    def parse(value: str) -> int:
        try:
            return ram_in_bytes(value)
        except ValueError as exc:
            raise flag_error(value, flag, str(exc)) from None

    return parse


def swap_bytes(flag: str) -> Any:
    """--memory-swap: a size, or -1 for unlimited swap (docker-cli's MemSwapBytes)."""
    sizes = mem_bytes(flag)

    def parse(value: str) -> int:
        return -1 if value.strip() == "-1" else int(sizes(value))

    return parse


def nano_cpus(value: str) -> int:
    try:
        cpus = float(value)
    except ValueError:
        raise flag_error(value, "--cpus", f"failed to parse {value} as a rational number") from None
    return int(round(cpus * 1e9))


def go_duration(flag: str) -> Any:
    def parse(value: str) -> int:
        try:
            return timefmt.parse_duration_ns(value)
        except ValueError as exc:
            raise flag_error(value, flag, str(exc)) from None

    return parse


def add_flags(p: Parser) -> None:
    a = p.add_argument
    a("-d", "--detach", action="store_true")
    a("--rm", action="store_true")
    a("-i", "--interactive", action="store_true")
    a("-t", "--tty", action="store_true")
    a(
        "-a",
        "--attach",
        action="append",
        default=[],
        choices=["stdin", "stdout", "stderr", "STDIN", "STDOUT", "STDERR"],
    )
    a("--detach-keys", default=None)
    a("--sig-proxy", action=argparse.BooleanOptionalAction, default=True)
    a("--name", default="")
    a("-e", "--env", action="append", default=[])
    a("--env-file", action="append", default=[])
    a("-l", "--label", action="append", default=[])
    a("--label-file", action="append", default=[])
    a("-w", "--workdir", default="")
    a("-u", "--user", default="")
    a("--entrypoint", default=None)
    a("-h", "--hostname", default="")
    a("--domainname", default="")
    a("-m", "--memory", type=mem_bytes("-m, --memory"), default=0)
    a("--memory-swap", type=swap_bytes("--memory-swap"), default=0)
    a("--memory-reservation", type=mem_bytes("--memory-reservation"), default=0)
    a("--shm-size", type=mem_bytes("--shm-size"), default=0)
    a("--cpus", type=nano_cpus, default=0)
    a("-c", "--cpu-shares", type=int, default=0)
    a("--cpuset-cpus", default="")
    a("--pids-limit", type=int, default=None)
    a("--read-only", action="store_true")
    a("--privileged", action="store_true")
    a("--cap-add", action="append", default=[])
    a("--cap-drop", action="append", default=[])
    a("--security-opt", action="append", default=[])
    a("--sysctl", action="append", default=[])
    a("--ulimit", action="append", default=[])
    a("--restart", default="no")
    a("--network", "--net", dest="network", default="")
    a("--network-alias", "--net-alias", dest="network_alias", action="append", default=[])
    a("--ip", default="")
    a("--ip6", default="")
    a("--mac-address", default="")
    a("-p", "--publish", action="append", default=[])
    a("-P", "--publish-all", action="store_true")
    a("--expose", action="append", default=[])
    a("-v", "--volume", action="append", default=[])
    a("--mount", action="append", default=[])
    a("--tmpfs", action="append", default=[])
    a("--volumes-from", action="append", default=[])
    a("--add-host", action="append", default=[])
    a("--dns", action="append", default=[])
    a("--dns-search", action="append", default=[])
    a("--dns-option", action="append", default=[])
    a("--link", action="append", default=[])
    a("--stop-signal", default="")
    a("--stop-timeout", type=int, default=None)
    a("--health-cmd", default="")
    a("--health-interval", type=go_duration("--health-interval"), default=0)
    a("--health-timeout", type=go_duration("--health-timeout"), default=0)
    a("--health-start-period", type=go_duration("--health-start-period"), default=0)
    a("--health-retries", type=int, default=0)
    a("--no-healthcheck", action="store_true")
    a("--init", action="store_true")
    a("--ipc", default="")
    a("--cgroupns", default="")  # private | host; the daemon's default when empty
    a("--pid", default="")
    a("--uts", default="")
    a("--device", action="append", default=[])
    a("--group-add", action="append", default=[])
    a("--log-driver", default="")
    a("--log-opt", action="append", default=[])
    a("--platform", default="")
    a("--pull", default="missing", choices=["always", "missing", "never"])
    a("--cidfile", default="")
    a("-q", "--quiet", action="store_true")
    a("image")
    a("command", nargs=argparse.REMAINDER)


def _env(values: list[str]) -> list[str]:
    out = []
    for item in values:
        if "=" in item or item not in os.environ:
            out.append(item)
        else:
            out.append(f"{item}={os.environ[item]}")
    return out


def _labels(ns: argparse.Namespace) -> dict[str, str]:
    lines: list[str] = []
    for path in ns.label_file:
        lines += env_file_lines(path)
    lines += ns.label
    labels: dict[str, str] = {}
    for line in lines:
        key, _, value = line.partition("=")
        labels[key] = value
    return labels


def restart_policy(text: str) -> dict[str, Any]:
    name, _, count = text.partition(":")
    if name not in ("no", "always", "on-failure", "unless-stopped", ""):
        raise CLIError(f"invalid restart policy format: {text}", 125)
    if count and name != "on-failure":
        raise CLIError(
            f"invalid restart policy format: maximum retry count can only be used with 'on-failure': {text}",
            125,
        )
    try:
        retries = int(count) if count else 0
    except ValueError:
        raise CLIError(
            f"invalid restart policy format: maximum retry count must be an integer: {text}", 125
        ) from None
    return {"Name": name or "no", "MaximumRetryCount": retries}


def _binds(volumes: list[str]) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """A `-v` with a source (path or name) is a bind; a lone path is an anonymous volume."""
    binds: list[str] = []
    anon: dict[str, dict[str, Any]] = {}
    for spec in volumes:
        parts = spec.split(":")
        if len(parts) == 1:
            anon[parts[0]] = {}
        else:
            binds.append(spec)
    return binds, anon


def _tmpfs(specs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for spec in specs:
        path, _, opts = spec.partition(":")
        out[path] = opts
    return out


def _hosts(specs: list[str]) -> list[str]:
    out = []
    for spec in specs:
        # docker 25+ accepts host=ip as well as host:ip and sends host:ip.
        if "=" in spec:
            host, _, ip = spec.partition("=")
            spec = f"{host}:{ip}"
        if ":" not in spec:
            raise CLIError(
                f'invalid argument "{spec}" for "--add-host" flag: bad format for add-host: "{spec}"',
                125,
            )
        out.append(spec)
    return out


def _links(specs: list[str]) -> list[str]:
    return [spec if ":" in spec else f"{spec}:{spec}" for spec in specs]


def _attach(ns: argparse.Namespace) -> tuple[bool, bool, bool]:
    if ns.detach:
        if ns.attach:
            raise CLIError("Conflicting options: -a and -d", 125)
        return False, False, False
    if ns.attach:
        wanted = {a.lower() for a in ns.attach}
        return "stdin" in wanted, "stdout" in wanted, "stderr" in wanted
    return ns.interactive, True, True


def healthcheck(ns: argparse.Namespace) -> dict[str, Any] | None:
    """--health-* and --no-healthcheck as docker-cli turns them into Config.Healthcheck (E6)."""
    timings = (ns.health_interval, ns.health_timeout, ns.health_start_period, ns.health_retries)
    if ns.no_healthcheck:
        if ns.health_cmd or any(timings):
            raise CLIError("--no-healthcheck conflicts with --health-* options", 125)
        return {"Test": ["NONE"]}
    if not ns.health_cmd and not any(timings):
        return None
    for flag, value in (("--health-interval", ns.health_interval),
                        ("--health-timeout", ns.health_timeout),
                        ("--health-retries", ns.health_retries),
                        ("--health-start-period", ns.health_start_period)):  # fmt: skip
        if value < 0:
            raise CLIError(f"{flag} cannot be negative", 125)
    out: dict[str, Any] = {"Test": ["CMD-SHELL", ns.health_cmd] if ns.health_cmd else None,
                           "Interval": ns.health_interval, "Timeout": ns.health_timeout,
                           "StartPeriod": ns.health_start_period, "Retries": ns.health_retries}  # fmt: skip
    return {k: v for k, v in out.items() if v}


def build(ns: argparse.Namespace) -> dict[str, Any]:
    """The JSON body of POST /containers/create."""
    env: list[str] = []
    for path in ns.env_file:
        env += env_file_lines(path)
    env += _env(ns.env)
    attach_in, attach_out, attach_err = _attach(ns)
    exposed, bindings = parse_ports(ns.publish, ns.expose)
    binds, anon = _binds(ns.volume)
    policy = restart_policy(ns.restart)
    if ns.rm and policy["Name"] != "no":
        raise CLIError("Conflicting options: --restart and --rm", 125)
    if ns.cgroupns not in ("", "host", "private"):  # checked by the client, as docker's does
        raise CLIError("dockyard: --cgroupns: invalid CGROUP mode", 125)
    entrypoint = None if ns.entrypoint is None else [ns.entrypoint]
    if ns.entrypoint == "":
        entrypoint = [""]
    config: dict[str, Any] = {
        "Hostname": ns.hostname,
        "Domainname": ns.domainname,
        "User": ns.user,
        "AttachStdin": attach_in,
        "AttachStdout": attach_out,
        "AttachStderr": attach_err,
        "ExposedPorts": exposed or None,
        "Tty": ns.tty,
        "OpenStdin": ns.interactive,
        "StdinOnce": ns.interactive and attach_in,
        "Env": env,
        "Cmd": ns.command or None,
        "Image": ns.image,
        "Volumes": anon or None,
        "WorkingDir": ns.workdir,
        "Entrypoint": entrypoint,
        "Labels": _labels(ns),
    }
    if ns.mac_address:
        config["MacAddress"] = ns.mac_address
    if ns.stop_signal:
        config["StopSignal"] = ns.stop_signal
    if ns.stop_timeout is not None:
        config["StopTimeout"] = ns.stop_timeout
    health = healthcheck(ns)
    if health is not None:
        config["Healthcheck"] = health
    network = ns.network or "default"
    host: dict[str, Any] = {
        "Binds": binds or None,
        "ContainerIDFile": ns.cidfile,
        "LogConfig": {
            "Type": ns.log_driver,
            "Config": dict(o.split("=", 1) for o in ns.log_opt if "=" in o),
        },
        "NetworkMode": network,
        "PortBindings": bindings,
        "RestartPolicy": policy,
        "AutoRemove": ns.rm,
        "VolumesFrom": ns.volumes_from or None,
        "CapAdd": ns.cap_add or None,
        "CapDrop": ns.cap_drop or None,
        "Dns": ns.dns,
        "DnsOptions": ns.dns_option,
        "DnsSearch": ns.dns_search,
        "ExtraHosts": _hosts(ns.add_host) or None,
        "GroupAdd": ns.group_add or None,
        "IpcMode": ns.ipc,
        "CgroupnsMode": ns.cgroupns,
        "Links": _links(ns.link) or None,
        "PidMode": ns.pid,
        "Privileged": ns.privileged,
        "PublishAllPorts": ns.publish_all,
        "ReadonlyRootfs": ns.read_only,
        "SecurityOpt": ns.security_opt or None,
        "UTSMode": ns.uts,
        "ShmSize": ns.shm_size,
        "Memory": ns.memory,
        "MemoryReservation": ns.memory_reservation,
        "MemorySwap": ns.memory_swap,
        "NanoCpus": ns.cpus,
        "CpuShares": ns.cpu_shares,
        "CpusetCpus": ns.cpuset_cpus,
        "PidsLimit": ns.pids_limit,
        "Ulimits": [parse_ulimit(u) for u in ns.ulimit] or None,
        "Devices": [_device(d) for d in ns.device],
    }
    if ns.tmpfs:
        host["Tmpfs"] = _tmpfs(ns.tmpfs)
    if ns.sysctl:
        host["Sysctls"] = dict(s.split("=", 1) for s in ns.sysctl if "=" in s)
    if ns.mount:
        host["Mounts"] = [parse_mount(m) for m in ns.mount]
    if ns.init:
        host["Init"] = True
    endpoints: dict[str, Any] = {}
    if ns.network or ns.ip or ns.ip6 or ns.network_alias:
        ep: dict[str, Any] = {}
        if ns.ip or ns.ip6:
            ep["IPAMConfig"] = {"IPv4Address": ns.ip, "IPv6Address": ns.ip6}
        if ns.network_alias:
            ep["Aliases"] = ns.network_alias
        endpoints[network] = ep
    return {**config, "HostConfig": host, "NetworkingConfig": {"EndpointsConfig": endpoints}}


def _device(spec: str) -> dict[str, str]:
    parts = spec.split(":")
    host = parts[0]
    inner = parts[1] if len(parts) > 1 else host
    perms = parts[2] if len(parts) > 2 else "rwm"
    return {"PathOnHost": host, "PathInContainer": inner, "CgroupPermissions": perms}
