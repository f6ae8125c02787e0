"""The `dockyard kube generate|play|down` commands (#19, E7): flags, name resolution and output;
the mapping lives in generate.py and manifest.py, the making in play.py."""

from __future__ import annotations

import argparse
import io
import json
import os
import stat
import sys
from typing import NamedTuple

from dockyard.cli.client import APIError, Client, quote_path
from dockyard.cli.command import AnyDict, CLIError, Command, Parser, Session
from dockyard.cli.kube import generate, labels
from dockyard.cli.kube.plan import Plan

HEADER = (
    "# Save the output of this file and use kubectl create -f to import it into Kubernetes.\n"
    "#\n# Created with dockyard {version}\n"
)
COMPOSE_PROJECT, COMPOSE_SERVICE = generate.COMPOSE_PROJECT, generate.COMPOSE_SERVICE


def host_path_type(path: str) -> str:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return "DirectoryOrCreate"
    return "Directory" if stat.S_ISDIR(mode) else "File" if stat.S_ISREG(mode) else ""


def _get(client: Client, path: str) -> AnyDict | None:
    try:
        return dict(client.get(path))
    except APIError as exc:
        if exc.status == 404:
            return None
        raise


def _labelled(client: Client, label: str) -> list[AnyDict]:
    found = client.get("/containers/json", {"all": True,
                                            "filters": json.dumps({"label": [label]})})  # fmt: skip
    docs = [_get(client, f"/containers/{c['Id']}/json") for c in found]
    return sorted((d for d in docs if d), key=lambda d: str(d.get("Created", "")))


def _with_netns_owners(client: Client, docs: list[AnyDict]) -> tuple[list[AnyDict], AnyDict | None]:
    """The containers plus those whose network namespace they join; a play-made infra container
    is left out and its HostConfig returned (its published ports go on the pod's first
    container, its DNS settings are the pod's)."""
    out, seen = list(docs), {d["Id"] for d in docs}
    infra: AnyDict | None = None
    for doc in list(out):
        mode = str((doc.get("HostConfig") or {}).get("NetworkMode") or "")
        if not mode.startswith("container:"):
            continue
        owner = _get(client, f"/containers/{quote_path(mode.split(':', 1)[1])}/json")
        if owner is None or owner["Id"] in seen:
            continue
        seen.add(owner["Id"])
        if ((owner.get("Config") or {}).get("Labels") or {}).get(labels.INFRA) == "true":
            infra = dict(owner.get("HostConfig") or {})
        else:
            out.insert(0, owner)
    return out, infra


def _pod_name(docs: list[AnyDict]) -> str:
    pods = {((d.get("Config") or {}).get("Labels") or {}).get(labels.POD) for d in docs}
    if len(pods) == 1 and None not in pods:
        return str(pods.pop())
    return generate.dns_name(generate.container_name(docs[0])) + "-pod"


def _images(client: Client, docs: list[AnyDict]) -> dict[str, AnyDict]:
    out: dict[str, AnyDict] = {}
    for d in docs:
        ident = str(d.get("Image") or "")
        if ident and ident not in out:
            out[ident] = _get(client, f"/images/{quote_path(ident)}/json") or {}
    return out


def _generate_flags(p: Parser) -> None:
    p.add_argument("names", nargs="*", metavar="CONTAINER|POD|VOLUME")
    p.add_argument("-f", "--filename", default="", help="Write the YAML to this new file")
    p.add_argument("-s", "--service", action="store_true", help="Add a Service for the ports")
    p.add_argument("-t", "--type", dest="kind", default="pod", choices=["pod", "deployment"],
                   help="The kind to generate: pod or deployment")  # fmt: skip
    p.add_argument("-r", "--replicas", type=int, default=1, help="A Deployment's replicas")
    p.add_argument("--compose", default="", metavar="PROJECT",
                   help="Every container of a compose project, one manifest")  # fmt: skip


class _Group(NamedTuple):
    """Containers that make one pod: its name (None: from the containers) and its replicas."""

    docs: list[AnyDict]
    name: str | None = None
    replicas: int = 1


def _groups(client: Client, ns: argparse.Namespace) -> tuple[list[_Group], list[AnyDict]]:
    """Container groups (each one pod) and volumes named on the command line; a compose
    project's services, each with its first container and its scale."""
    if ns.compose:
        docs = _labelled(client, f"{COMPOSE_PROJECT}={ns.compose}")
        if not docs:
            raise CLIError(f"Error: no containers of compose project {ns.compose!r}", 125)
        services: dict[str, list[AnyDict]] = {}
        for d in docs:
            service = ((d.get("Config") or {}).get("Labels") or {}).get(COMPOSE_SERVICE, "")
            services.setdefault(service, []).append(d)
        groups = [_Group(group[:1], generate.dns_name(f"{ns.compose}-{service}"), len(group))
                  for service, group in services.items()]  # fmt: skip
        return groups, []
    containers: list[AnyDict] = []
    volumes: list[AnyDict] = []
    for name in ns.names:
        doc = _get(client, f"/containers/{quote_path(name)}/json")
        if doc is not None:
            containers.append(doc)
            continue
        members = [d for d in _labelled(client, f"{labels.POD}={name}")
                   if ((d.get("Config") or {}).get("Labels") or {}).get(labels.INFRA) != "true"]  # fmt: skip
        if members:
            containers.extend(members)
            continue
        volume = _get(client, f"/volumes/{quote_path(name)}")
        if volume is None:
            raise CLIError(f'Error: name or ID "{name}" not found', 125)
        volumes.append(volume)
    return ([_Group(containers)] if containers else []), volumes


def _generate(ns: argparse.Namespace, s: Session) -> int:
    if not ns.names and not ns.compose:
        raise CLIError("Error: generate requires at least one container, pod or volume, "
                       "or --compose PROJECT", 125)  # fmt: skip
    if ns.replicas < 1:
        raise CLIError("Error: --replicas must be at least 1", 125)
    if ns.replicas > 1 and ns.kind != "deployment":
        raise CLIError("Error: --replicas needs --type deployment", 125)
    if ns.filename and os.path.lexists(ns.filename):
        raise CLIError(f'Error: cannot write to "{ns.filename}": the file exists', 125)
    client = s.client
    groups, volumes = _groups(client, ns)
    objects: list[AnyDict] = []
    claims: list[str] = [str(v["Name"]) for v in volumes]
    for group in groups:
        docs, infra = _with_netns_owners(client, group.docs)
        if infra and infra.get("PortBindings"):
            first = dict(docs[0])
            ports = infra["PortBindings"]
            first["HostConfig"] = {**(first.get("HostConfig") or {}), "PortBindings": ports}
            docs[0] = first
        opts = generate.Options(ns.kind, ns.service, max(ns.replicas, group.replicas))
        name = group.name or _pod_name(docs)
        made = generate.pod_objects(name, docs, _images(client, docs), opts, host_path_type,
                                    infra)  # fmt: skip
        objects.extend(made.objects)
        claims.extend(c for c in made.claims if c not in claims)
        for warning in made.warnings:
            s.warn(f"WARNING: {warning}")
    pvcs = []
    for claim in claims:
        volume = next((v for v in volumes if v["Name"] == claim), None)
        pvcs.append(generate.claim(volume or _get(client, f"/volumes/{quote_path(claim)}")
                                   or {"Name": claim}))  # fmt: skip
    text = _dump(pvcs + objects)
    if ns.filename:
        with open(ns.filename, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        s.out.write(text)
    return 0


def _dump(objects: list[AnyDict]) -> str:
    import yaml

    from dockyard.cli.main import VERSION

    body = yaml.safe_dump_all(objects, sort_keys=False, default_flow_style=False)
    return HEADER.format(version=VERSION) + body


def _file_flags(p: Parser) -> None:
    p.add_argument("file", metavar="KUBEFILE|-")


def _play_flags(p: Parser) -> None:
    _file_flags(p)
    p.add_argument("--replace", action="store_true",
                   help="Remove what an earlier play of the file made first")  # fmt: skip


def _read_plan(path: str) -> Plan:
    from dockyard.cli.kube import manifest

    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
    except OSError as exc:
        raise CLIError(f"Error: open {path}: {(exc.strerror or str(exc)).lower()}", 125) from exc
    try:
        return manifest.plan(manifest.load(text))
    except manifest.ManifestError as exc:
        lines = "".join(f"\n  {e}" for e in exc.errors)
        raise CLIError(f'Error: error validating "{path}":{lines}', 125) from exc


def _play(ns: argparse.Namespace, s: Session) -> int:
    from dockyard.cli.kube import play

    plan = _read_plan(ns.file)
    if ns.replace:  # what an earlier play of this file made goes first
        play.down(s.client, plan, io.StringIO())
    try:
        play.play(s.client, plan, s.out, s.err)
    except play.PlayError as exc:
        raise CLIError(f"Error: {exc}", 125) from exc
    return 0


def _down(ns: argparse.Namespace, s: Session) -> int:
    from dockyard.cli.kube import play

    plan = _read_plan(ns.file)
    play.down(s.client, plan, s.out)
    return 0


COMMANDS = {
    "generate": Command("[OPTIONS] CONTAINER|POD|VOLUME...", _generate_flags, _generate),
    "play": Command("[OPTIONS] KUBEFILE|-", _play_flags, _play),
    "down": Command("KUBEFILE|-", _file_flags, _down),
}
