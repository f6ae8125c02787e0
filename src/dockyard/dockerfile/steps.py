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
from dockyard.images import healthcheck


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
        try:
            hc = healthcheck.parse(ins.rest, ins.flags)
        except ValueError as e:
            raise InvalidParameter(str(e)) from None
        cfg["Healthcheck"] = healthcheck.merged(hc, cfg_in.get("Healthcheck"))
        return cfg, healthcheck.history(hc)
    if cmd == "ONBUILD":
        trigger = ins.rest.strip()
        cfg["OnBuild"] = [*(cfg.get("OnBuild") or []), trigger]
        return cfg, "ONBUILD " + trigger
    if cmd == "SHELL":
        assert ins.json is not None
        cfg["Shell"] = list(ins.json)
        return cfg, f"SHELL [{' '.join(ins.json)}]"
    raise InvalidParameter(f"unknown instruction: {cmd}")
