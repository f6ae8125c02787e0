"""`version`, `info`, `events`, `system df` and `system check`."""

from __future__ import annotations

import argparse
import platform
import sys
import time
from typing import Any

from dockyard.cli.command import CLIError, Command, Parser, Session
from dockyard.cli.tabwriter import align


def _template(fmt: str) -> Any:
    from dockyard.cli.govalues import TemplateError
    from dockyard.cli.template import parse

    try:
        return parse(fmt.replace("\\t", "\t").replace("\\n", "\n"))
    except TemplateError as exc:
        raise CLIError(f"template parsing error: {exc}", 64) from None


def _format_flags(p: Parser) -> None:
    p.add_argument("-f", "--format", default="")


def _client_info(s: Session) -> dict[str, Any]:
    from dockyard.cli.defaults import API_VERSION
    from dockyard.cli.main import VERSION

    return {
        "Version": VERSION,
        "ApiVersion": API_VERSION,
        "DefaultAPIVersion": API_VERSION,
        "GoVersion": f"python{platform.python_version()}",
        "GitCommit": "",
        "BuildTime": "",
        "Os": sys.platform,
        "Arch": {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine()),
        "Context": "default",
    }


def _version(ns: argparse.Namespace, s: Session) -> int:
    client = _client_info(s)
    negotiated = s.client.version
    server: Any = None
    server_error = ""
    try:
        server = s.client.get("/version")
    except Exception as exc:  # noqa: BLE001 - docker prints the client half regardless
        server_error = str(exc)
    if ns.format:
        s.print(_template(ns.format).execute({"Client": client, "Server": server}))
        return 0
    api = client["ApiVersion"]
    if negotiated != api:
        api = f"{negotiated} (downgraded from {api})"
    lines = [
        "Client:",
        f" Version:\t{client['Version']}",
        f" API version:\t{api}",
        f" Go version:\t{client['GoVersion']}",
        f" Git commit:\t{client['GitCommit']}",
        f" Built:\t{client['BuildTime']}",
        f" OS/Arch:\t{client['Os']}/{client['Arch']}",
        f" Context:\t{client['Context']}",
    ]
    if server:
        lines += ["", "Server:"]
        for comp in server.get("Components") or []:
            details = comp.get("Details") or {}
            lines.append(f" {comp.get('Name')}:")
            if comp.get("Name") == "Engine":
                lines += [
                    f"  Version:\t{comp.get('Version')}",
                    f"  API version:\t{details.get('ApiVersion')} (minimum version {details.get('MinAPIVersion')})",
                    f"  Go version:\t{details.get('GoVersion', '')}",
                    f"  Git commit:\t{details.get('GitCommit', '')}",
                    f"  Built:\t{details.get('BuildTime', '')}",
                    f"  OS/Arch:\t{details.get('Os', '')}/{details.get('Arch', '')}",
                    f"  Experimental:\t{details.get('Experimental', 'false')}",
                ]
            else:
                lines.append(f"  Version:\t{comp.get('Version')}")
                lines += [f"  {k}:\t{v}" for k, v in details.items()]
    s.out.write(align("\n".join(lines) + "\n", minwidth=20, padding=1))
    if server_error:
        raise CLIError(server_error)
    return 0


def _bytes_size(n: float) -> str:
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    i = 0
    while n >= 1024 and i < len(units) - 1:
        n /= 1024
        i += 1
    return f"{n:.4g}{units[i]}"


def _info(ns: argparse.Namespace, s: Session) -> int:
    client = _client_info(s)
    info = s.client.get("/info") or {}
    if ns.format:
        s.print(_template(ns.format).execute({**info, "ClientInfo": client}))
        return 0
    out = [
        "Client:",
        f" Version:    {client['Version']}",
        f" Context:    {client['Context']}",
        " Debug Mode: false",
        "",
        "Server:",
        f" Containers: {info.get('Containers', 0)}",
        f"  Running: {info.get('ContainersRunning', 0)}",
        f"  Paused: {info.get('ContainersPaused', 0)}",
        f"  Stopped: {info.get('ContainersStopped', 0)}",
        f" Images: {info.get('Images', 0)}",
        f" Server Version: {info.get('ServerVersion', '')}",
        f" Storage Driver: {info.get('Driver', '')}",
    ]
    out += [f"  {k}: {v}" for k, v in info.get("DriverStatus") or []]
    out += [
        f" Logging Driver: {info.get('LoggingDriver', '')}",
        f" Cgroup Driver: {info.get('CgroupDriver', '')}",
        f" Cgroup Version: {info.get('CgroupVersion', '')}",
        f" Runtimes: {' '.join(sorted(info.get('Runtimes') or {}))}",
        f" Default Runtime: {info.get('DefaultRuntime', '')}",
        f" Kernel Version: {info.get('KernelVersion', '')}",
        f" Operating System: {info.get('OperatingSystem', '')}",
        f" OSType: {info.get('OSType', '')}",
        f" Architecture: {info.get('Architecture', '')}",
        f" CPUs: {info.get('NCPU', 0)}",
        f" Total Memory: {_bytes_size(float(info.get('MemTotal') or 0))}",
        f" Name: {info.get('Name', '')}",
        f" ID: {info.get('ID', '')}",
        f" Docker Root Dir: {info.get('DockerRootDir', '')}",
        f" Debug Mode: {str(bool(info.get('Debug'))).lower()}",
        f" Experimental: {str(bool(info.get('ExperimentalBuild'))).lower()}",
        f" Live Restore Enabled: {str(bool(info.get('LiveRestoreEnabled'))).lower()}",
    ]
    s.print("\n".join(out))
    for warning in info.get("Warnings") or []:
        s.warn(warning)
    return 0


def _events_flags(p: Parser) -> None:
    p.add_argument("--since", default="")
    p.add_argument("--until", default="")
    p.add_argument("-f", "--filter", action="append")
    p.add_argument("--format", default="")


def _events(ns: argparse.Namespace, s: Session) -> int:
    from dockyard.cli.containers import filters_json
    from dockyard.cli.eventrows import EventRow, event_line
    from dockyard.core.timefmt import api_timestamp

    tmpl = _template("{{json .}}" if ns.format == "json" else ns.format) if ns.format else None
    now = time.time()
    try:
        query = {
            "since": api_timestamp(ns.since, now) if ns.since else None,
            "until": api_timestamp(ns.until, now) if ns.until else None,
            "filters": filters_json(ns.filter),
        }
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    resp = s.client.request("GET", "/events", query)
    for event in s.client.stream_json(resp):
        s.print(tmpl.execute(EventRow(event)) if tmpl is not None else event_line(event))
        s.out.flush()
    return 0


def _df(ns: argparse.Namespace, s: Session) -> int:
    from dockyard.cli.diskusage import render_df

    s.out.write(render_df(s.client.get("/system/df") or {}, ns.verbose, ns.format, time.time()))
    return 0


def _df_flags(p: Parser) -> None:
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("--format", default="")


def _check_flags(p: Parser) -> None:
    p.add_argument("-r", "--repair", action="store_true")
    p.add_argument("-q", "--quick", action="store_true")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("--format", default="")


def check_lines(findings: list[dict[str, Any]]) -> list[str]:
    """One line per finding, as `podman system check` groups them: kind, object, problem."""
    lines = []
    for f in findings:
        done = " (repaired)" if f.get("Repaired") else ""
        lines.append(f"{f.get('Kind')} {f.get('Object')}: {f.get('Problem')}{done}")
    return lines


def _check(ns: argparse.Namespace, s: Session) -> int:
    """Exit 125 while damage remains (podman's), 0 when all is well or repaired."""
    if ns.force and not ns.repair:
        raise CLIError("--force has effect only with --repair", 125)
    query = {k: "1" if getattr(ns, k) else "0" for k in ("repair", "quick", "force")}
    result = s.client.post("/dockyard/system/check", query) or {}
    findings = list(result.get("Findings") or [])
    if ns.format:
        s.print(_template("{{json .}}" if ns.format == "json" else ns.format).execute(result))
    else:
        for line in check_lines(findings):
            s.print(line)
        if result.get("Errors"):
            hint = "" if ns.repair else " (--repair fixes those marked repairable)"
            left = sum(1 for f in findings if not f.get("Repaired"))
            s.warn(f"{left} problem(s) found{hint}")
    return 125 if result.get("Errors") else 0


COMMANDS = {
    "check": Command("[OPTIONS]", _check_flags, _check),
    "version": Command("[OPTIONS]", _format_flags, _version),
    "info": Command("[OPTIONS]", _format_flags, _info),
    "events": Command("[OPTIONS]", _events_flags, _events),
    "df": Command("[OPTIONS]", _df_flags, _df),
}
