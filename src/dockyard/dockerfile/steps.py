"""Metadata instructions (MISSION S1), pure: each takes the step's container config and returns
the new one plus the `#(nop)` comment its history entry records. ENV, LABEL, CMD, ENTRYPOINT,
EXPOSE, VOLUME, USER, WORKDIR (the config part), STOPSIGNAL, HEALTHCHECK, ONBUILD, SHELL,
MAINTAINER. Arguments arrive unexpanded; `env` is what `$VAR` sees at this step.
"""

from __future__ import annotations

import copy
import json
import posixpath
import re
from collections.abc import Mapping

from dockyard.core.types import Json
from dockyard.dockerfile import expand
from dockyard.dockerfile.parser import Instruction
from dockyard.errors import InvalidParameter

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)$")
_UNITS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def env_map(cfg: Json) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in cfg.get("Env") or []:
        k, _, v = e.partition("=")
        out[k] = v
    return out


def set_env(cfg: Json, key: str, value: str) -> None:
    env = list(cfg.get("Env") or [])
    for i, e in enumerate(env):
        if e.partition("=")[0] == key:
            env[i] = f"{key}={value}"
            break
    else:
        env.append(f"{key}={value}")
    cfg["Env"] = env


def command_form(ins: Instruction, shell: list[str]) -> list[str]:
    """RUN/CMD/ENTRYPOINT argv: the JSON form as given, else the shell form under SHELL."""
    if ins.json is not None:
        return list(ins.json)
    return [*shell, ins.rest]


def _duration(flag: str, value: str) -> int:
    if not value:
        return 0
    m = _DURATION.match(value)
    if m is None:
        raise InvalidParameter(f'time: invalid duration "{value}"')
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def _healthcheck(ins: Instruction, shell: list[str]) -> Json:
    rest = ins.rest.strip()
    word, _, after = rest.partition(" ")
    if word.upper() == "NONE":
        if after.strip():
            raise InvalidParameter("HEALTHCHECK NONE takes no arguments")
        return {"Test": ["NONE"]}
    if word.upper() != "CMD":
        raise InvalidParameter(f'Unknown type "{word.upper()}" in HEALTHCHECK (try CMD)')
    after = after.strip()
    try:
        form = json.loads(after) if after.startswith("[") else None
    except ValueError:
        form = None
    test = ["CMD", *form] if isinstance(form, list) else ["CMD-SHELL", after]
    hc: Json = {"Test": test}
    for flag, key in (("interval", "Interval"), ("timeout", "Timeout"),
                      ("start-period", "StartPeriod"), ("start-interval", "StartInterval")):  # fmt: skip
        if flag in ins.flags:
            hc[key] = _duration(flag, ins.flags[flag])
    if "retries" in ins.flags:
        try:
            hc["Retries"] = int(ins.flags["retries"])
        except ValueError:
            raise InvalidParameter(f"invalid retries value {ins.flags['retries']}") from None
    return hc


def apply(
    ins: Instruction, cfg_in: Json, env: Mapping[str, str], escape: str, shell: list[str]
) -> tuple[Json, str]:
    """Returns (new config, history comment)."""
    cfg = copy.deepcopy(cfg_in)
    cmd = ins.cmd
    if cmd == "ENV":
        pairs = expand.key_values("ENV", ins.rest, env, escape)
        for k, v in pairs:
            set_env(cfg, k, v)
        return cfg, "ENV " + " ".join(f"{k}={v}" for k, v in pairs)
    if cmd == "LABEL":
        pairs = expand.key_values("LABEL", ins.rest, env, escape)
        cfg["Labels"] = {**(cfg.get("Labels") or {}), **dict(pairs)}
        return cfg, "LABEL " + " ".join(f"{k}={v}" for k, v in pairs)
    if cmd == "MAINTAINER":
        return cfg, "MAINTAINER " + expand.word(ins.rest, env, escape)
    if cmd in ("CMD", "ENTRYPOINT"):
        argv = command_form(ins, shell)
        if cmd == "CMD":
            cfg["Cmd"] = argv
        else:
            cfg["Entrypoint"] = argv
            cfg["Cmd"] = None  # ENTRYPOINT resets an inherited CMD
        # Go's %q of a []string: ["cat" "/data/g"], as Docker's history shows it.
        return cfg, f"{cmd} [{' '.join(json.dumps(a) for a in argv)}]"
    if cmd == "EXPOSE":
        ports = []
        for p in expand.words(ins.rest, env, escape):
            proto = "tcp"
            if "/" in p:
                p, proto = p.split("/", 1)
            if not re.fullmatch(r"\d+(-\d+)?", p):
                raise InvalidParameter(f"Invalid containerPort: {p}")
            ports.append(f"{p}/{proto.lower()}")
        cfg["ExposedPorts"] = {**(cfg.get("ExposedPorts") or {}), **{p: {} for p in ports}}
        return cfg, "EXPOSE " + " ".join(ports)
    if cmd == "VOLUME":
        vols = ins.json if ins.json is not None else expand.words(ins.rest, env, escape)
        vols = [expand.word(v, env, escape) for v in vols] if ins.json is not None else vols
        if any(not v.strip() for v in vols):
            raise InvalidParameter("VOLUME specified can not be an empty string")
        cfg["Volumes"] = {**(cfg.get("Volumes") or {}), **{v: {} for v in vols}}
        return cfg, f"VOLUME [{' '.join(vols)}]"
    if cmd == "USER":
        cfg["User"] = expand.word(ins.rest, env, escape)
        return cfg, "USER " + cfg["User"]
    if cmd == "WORKDIR":
        path = expand.word(ins.rest, env, escape)
        cfg["WorkingDir"] = posixpath.normpath(posixpath.join(cfg.get("WorkingDir") or "/", path))
        return cfg, "WORKDIR " + cfg["WorkingDir"]
    if cmd == "STOPSIGNAL":
        cfg["StopSignal"] = expand.word(ins.rest, env, escape)
        return cfg, "STOPSIGNAL " + cfg["StopSignal"]
    if cmd == "HEALTHCHECK":
        cfg["Healthcheck"] = _healthcheck(ins, shell)
        return cfg, f"HEALTHCHECK {json.dumps(cfg['Healthcheck'], sort_keys=True)}"
    if cmd == "ONBUILD":
        trigger = ins.rest.strip()
        cfg["OnBuild"] = [*(cfg.get("OnBuild") or []), trigger]
        return cfg, "ONBUILD " + trigger
    if cmd == "SHELL":
        assert ins.json is not None
        cfg["Shell"] = list(ins.json)
        return cfg, f"SHELL [{' '.join(ins.json)}]"
    raise InvalidParameter(f"unknown instruction: {cmd}")
