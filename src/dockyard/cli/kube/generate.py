"""`kube generate`'s mapping: Docker container (and volume) inspect documents -> Kubernetes objects
(Pod or Deployment, PersistentVolumeClaims, a Service). Pure: the command fetches the documents
(#19, E7; D-kube-2)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from dockyard.cli.kube import quantity
from dockyard.cli.kube.labels import KUBE_PREFIX, POD, VOLUME_NAME

AnyDict = dict[str, Any]
HostPathType = Callable[[str], str]

_NS = 1_000_000_000
NODE_PORTS = range(30000, 32768)  # Kubernetes' default service-node-port-range
COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_RESTART = {"no": "Never", "": "Never", "always": "Always", "unless-stopped": "Always",
            "on-failure": "OnFailure"}  # fmt: skip


class Generated(NamedTuple):
    objects: list[AnyDict]
    claims: list[str]  # the named volumes the pod mounts
    warnings: list[str]


@dataclass(frozen=True)
class Options:
    kind: str = "pod"  # "pod" | "deployment"
    service: bool = False
    replicas: int = 1


def dns_name(text: str) -> str:
    """A DNS-1123 label from any name: lowercase, runs of other characters as one '-'."""
    name = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:63].strip("-")
    return name or "x"


def object_name(text: str) -> str:
    """A DNS-1123 subdomain (what Kubernetes takes as an object name) from a volume name."""
    name = re.sub(r"[^a-z0-9.-]+", "-", text.lower()).strip("-.")[:253].strip("-.")
    return name or "x"


def valid_label(key: str, value: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not re.match(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", prefix)):
        return False
    return (
        len(name) <= 63
        and bool(_LABEL_NAME.match(name))
        and len(value) <= 63
        and bool(_LABEL_VALUE.match(value))
    )


def container_name(doc: AnyDict) -> str:
    """The container's name, without the `POD-` prefix `kube play` gave it; a compose
    container's is its service's."""
    name = str(doc.get("Name", "")).lstrip("/")
    labels = (doc.get("Config") or {}).get("Labels") or {}
    if labels.get(POD):
        return name.removeprefix(f"{labels[POD]}-")
    return str(labels.get(COMPOSE_SERVICE) or name)


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _command(cfg: AnyDict, image_cfg: AnyDict) -> AnyDict:
    """Entrypoint -> command, Cmd -> args, left out where they are the image's (as podman)."""
    entry, cmd = _strings(cfg.get("Entrypoint")), _strings(cfg.get("Cmd"))
    img_entry, img_cmd = _strings(image_cfg.get("Entrypoint")), _strings(image_cfg.get("Cmd"))
    out: AnyDict = {}
    if entry == img_entry:
        if cmd != img_cmd:
            out["args"] = cmd
    elif entry:
        out["command"] = entry
        if cmd:
            out["args"] = cmd
    elif cmd:  # an image entrypoint turned off (--entrypoint ""): the command is the Cmd
        out["command"] = cmd
    return out


def _env(cfg: AnyDict, image_cfg: AnyDict) -> list[AnyDict]:
    image_env = set(_strings(image_cfg.get("Env")))
    out = []
    for item in _strings(cfg.get("Env")):
        if item in image_env:
            continue
        name, _, value = item.partition("=")
        out.append({"name": name, "value": value})
    return out


def _security(cfg: AnyDict, host: AnyDict, warnings: list[str], who: str) -> AnyDict:
    sc: AnyDict = {}
    user = str(cfg.get("User") or "")
    if user:
        uid, _, gid = user.partition(":")
        if uid.isdigit() and (not gid or gid.isdigit()):
            sc["runAsUser"] = int(uid)
            if gid:
                sc["runAsGroup"] = int(gid)
        else:
            warnings.append(f"{who}: user {user!r} is not numeric: runAsUser left out")
    caps: AnyDict = {}
    for key, field in (("CapAdd", "add"), ("CapDrop", "drop")):
        names = [c.upper().removeprefix("CAP_") for c in _strings(host.get(key))]
        if names:
            caps[field] = names
    if caps:
        sc["capabilities"] = caps
    if host.get("Privileged"):
        sc["privileged"] = True
    if host.get("ReadonlyRootfs"):
        sc["readOnlyRootFilesystem"] = True
    return sc


def _resources(host: AnyDict) -> AnyDict:
    limits: AnyDict = {}
    requests: AnyDict = {}
    if host.get("Memory"):
        limits["memory"] = quantity.format_memory(int(host["Memory"]))
    nanos = int(host.get("NanoCpus") or 0)
    quota, period = int(host.get("CpuQuota") or 0), int(host.get("CpuPeriod") or 0)
    if not nanos and quota > 0:
        nanos = quota * _NS // (period or 100_000)
    if nanos:
        limits["cpu"] = quantity.format_cpu(nanos)
    if host.get("MemoryReservation"):
        requests["memory"] = quantity.format_memory(int(host["MemoryReservation"]))
    if host.get("CpuShares"):
        requests["cpu"] = quantity.format_cpu(quantity.cpu_request(int(host["CpuShares"])))
    out: AnyDict = {}
    if limits:
        out["limits"] = limits
    if requests:
        out["requests"] = requests
    return out


def _seconds(ns: Any, default: int) -> int:
    value = int(ns or 0)
    return max(1, -(-value // _NS)) if value else default


def probe(health: AnyDict | None) -> AnyDict | None:
    """A Docker healthcheck as an exec liveness probe, Docker's defaults made explicit."""
    test = _strings((health or {}).get("Test"))
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD-SHELL":
        command = ["/bin/sh", "-c", " ".join(test[1:])]
    elif test[0] == "CMD":
        command = test[1:]
    else:
        return None
    assert health is not None
    out: AnyDict = {
        "exec": {"command": command},
        "periodSeconds": _seconds(health.get("Interval"), 30),
        "timeoutSeconds": _seconds(health.get("Timeout"), 30),
        "failureThreshold": int(health.get("Retries") or 3),
    }
    if health.get("StartPeriod"):
        out["initialDelaySeconds"] = _seconds(health["StartPeriod"], 0)
    return out


def _ports(host: AnyDict) -> list[AnyDict]:
    out: list[AnyDict] = []
    bindings = host.get("PortBindings") or {}
    for key in sorted(bindings, key=lambda k: (int(k.split("/")[0]), k)):
        port, _, proto = key.partition("/")
        for binding in bindings[key] or [{}]:
            entry: AnyDict = {"containerPort": int(port), "protocol": (proto or "tcp").upper()}
            host_port = str(binding.get("HostPort") or "")
            if host_port.isdigit() and int(host_port):  # with --service, maybe a nodePort later
                entry["hostPort"] = int(host_port)
                host_ip = str(binding.get("HostIp") or "")
                if host_ip not in ("", "0.0.0.0", "::"):
                    entry["hostIP"] = host_ip
            if entry not in out:
                out.append(entry)
    return out


class _Volumes:
    """The pod's volumes, each named once however many containers mount it."""

    def __init__(self, host_path_type: HostPathType) -> None:
        self.host_path_type = host_path_type
        self.volumes: dict[str, AnyDict] = {}
        self.claims: list[str] = []

    def _add(self, base: str, source: AnyDict) -> str:
        for name, existing in self.volumes.items():
            if {k: v for k, v in existing.items() if k != "name"} == source:
                return name
        name, n = dns_name(base), 0
        while name in self.volumes:
            n += 1
            name = f"{dns_name(base)[:58]}-{n}"
        self.volumes[name] = {"name": name, **source}
        return name

    def mounts(self, doc: AnyDict) -> list[AnyDict]:
        out: list[AnyDict] = []
        host = doc.get("HostConfig") or {}
        for m in doc.get("Mounts") or []:
            kind, target = m.get("Type"), str(m.get("Destination") or "")
            read_only = not m.get("RW", True)
            if kind == "volume":
                claim = str(m.get("Name") or "")
                source: AnyDict = {"persistentVolumeClaim": {"claimName": object_name(claim)}}
                if claim not in self.claims:
                    self.claims.append(claim)
                name = self._add(f"{claim}-pvc", source)
            elif kind == "bind":
                path = str(m.get("Source") or "")
                source = {"hostPath": {"path": path, "type": self.host_path_type(path)}}
                name = self._add(f"{path}-host", source)
            elif kind == "tmpfs":
                name = self._add(f"{target}-tmpfs", {"emptyDir": {"medium": "Memory"}})
            else:
                continue
            entry: AnyDict = {"name": name, "mountPath": target}
            if read_only:
                entry["readOnly"] = True
            out.append(entry)
        for target, opts in sorted((host.get("Tmpfs") or {}).items()):
            empty: AnyDict = {"medium": "Memory"}
            for opt in str(opts or "").split(","):
                key, _, value = opt.partition("=")
                if key == "size" and value:
                    empty["sizeLimit"] = _size_quantity(value)
            name = self._add(f"{target}-tmpfs", {"emptyDir": empty})
            out.append({"name": name, "mountPath": target})
        return out


def _size_quantity(value: str) -> str:
    """A tmpfs size= option (bytes, or k/m/g suffixed) as a quantity."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    suffix = value[-1:].lower()
    if suffix in units and value[:-1].isdigit():
        return quantity.format_memory(int(value[:-1]) * units[suffix])
    return quantity.format_memory(int(value)) if value.isdigit() else value


def image_name(cfg: AnyDict, image: AnyDict) -> str:
    """The image as the container was given it; one given by ID is named by its first tag
    (a cluster pulls by name)."""
    given = str(cfg.get("Image") or "")
    ident = str(image.get("Id") or "")
    by_id = not given or given == ident or ident.removeprefix("sha256:").startswith(
        given.removeprefix("sha256:")) and len(given.removeprefix("sha256:")) >= 12  # fmt: skip
    tags = _strings(image.get("RepoTags"))
    return tags[0] if by_id and tags else given or ident


def container_spec(
    doc: AnyDict, image: AnyDict, opts: Options, volumes: _Volumes, warnings: list[str]
) -> AnyDict:
    """One Kubernetes container from one Docker container."""
    cfg, host = doc.get("Config") or {}, doc.get("HostConfig") or {}
    image_cfg = image.get("Config") or {}
    name = container_name(doc)
    spec: AnyDict = {"name": dns_name(name), "image": image_name(cfg, image)}
    spec.update(_command(cfg, image_cfg))
    env = _env(cfg, image_cfg)
    if env:
        spec["env"] = env
    workdir = str(cfg.get("WorkingDir") or "")
    if workdir and workdir != (image_cfg.get("WorkingDir") or "/"):
        spec["workingDir"] = workdir
    ports = _ports(host)
    if ports:
        spec["ports"] = ports
    resources = _resources(host)
    if resources:
        spec["resources"] = resources
    liveness = probe(cfg.get("Healthcheck"))
    if liveness:
        spec["livenessProbe"] = liveness
    mounts = volumes.mounts(doc)
    if mounts:
        spec["volumeMounts"] = mounts
    security = _security(cfg, host, warnings, name)
    if security:
        spec["securityContext"] = security
    if cfg.get("Tty"):
        spec["tty"] = True
    if cfg.get("OpenStdin"):
        spec["stdin"] = True
    return spec


def _metadata(name: str, docs: list[AnyDict]) -> AnyDict:
    labels: AnyDict = {"app": name}
    annotations: AnyDict = {}
    for doc in docs:
        for key, value in sorted(((doc.get("Config") or {}).get("Labels") or {}).items()):
            if key.startswith(KUBE_PREFIX):
                continue
            if valid_label(key, str(value)):
                labels.setdefault(key, str(value))
            else:
                annotations.setdefault(key, str(value))
    meta: AnyDict = {"name": name, "labels": labels}
    if annotations:
        meta["annotations"] = annotations
    return meta


def pod_objects(
    name: str,
    docs: list[AnyDict],
    images: Mapping[str, AnyDict],
    opts: Options,
    host_path_type: HostPathType,
    pod_host: AnyDict | None = None,
) -> Generated:
    """The objects for one pod of `docs` (containers sharing a network namespace): the Pod or
    Deployment, then a Service when asked; the claims it mounts; what could not be said.
    `pod_host` is the HostConfig of what holds the namespace (a play-made infra container), when
    that is not the first container: DNS and /etc/hosts entries are the pod's."""
    warnings: list[str] = []
    volumes = _Volumes(host_path_type)
    containers = [
        container_spec(d, images.get(str(d.get("Image")), {}), opts, volumes, warnings)
        for d in docs
    ]
    policies = [str(((d.get("HostConfig") or {}).get("RestartPolicy") or {}).get("Name") or "")
                for d in docs]  # fmt: skip
    restart = _RESTART.get(next((p for p in policies if p not in ("", "no")), "no"), "Never")
    if opts.kind == "deployment" and restart != "Always":
        warnings.append(f"{name}: a Deployment's restartPolicy must be Always ({restart} was set)")
        restart = "Always"
    pod_spec: AnyDict = {"containers": containers, "restartPolicy": restart}
    if _own_hostname(docs[0]) not in ("", name):
        pod_spec["hostname"] = _own_hostname(docs[0])
    pod_spec.update(_pod_dns(pod_host or docs[0].get("HostConfig") or {}))
    if volumes.volumes:
        pod_spec["volumes"] = list(volumes.volumes.values())
    meta = _metadata(name, docs)
    service_ports = _service_ports(containers) if opts.service else []
    objects: list[AnyDict] = []
    if opts.kind == "deployment":
        objects.append({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": f"{name}-deployment", "labels": {"app": name}},
            "spec": {
                "replicas": opts.replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": meta, "spec": pod_spec},
            },
        })  # fmt: skip
    else:
        objects.append({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod_spec})
    if service_ports:
        node = any("nodePort" in p for p in service_ports)
        objects.append({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"type": "NodePort" if node else "ClusterIP", "selector": {"app": name},
                     "ports": service_ports},
        })  # fmt: skip
    return Generated(objects, volumes.claims, warnings)


def _pod_dns(host: AnyDict) -> AnyDict:
    """`--dns`, `--dns-search`, `--dns-option` as `dnsConfig`; `--add-host` as `hostAliases`."""
    config: AnyDict = {}
    if host.get("Dns"):
        config["nameservers"] = _strings(host["Dns"])
    if host.get("DnsSearch"):
        config["searches"] = _strings(host["DnsSearch"])
    options = []
    for opt in _strings(host.get("DnsOptions")):
        key, sep, value = opt.partition(":")
        options.append({"name": key, "value": value} if sep else {"name": key})
    if options:
        config["options"] = options
    aliases: dict[str, list[str]] = {}
    for entry in _strings(host.get("ExtraHosts")):
        hostname, _, ip = entry.partition(":")
        aliases.setdefault(ip, []).append(hostname)
    out: AnyDict = {}
    if config:
        out["dnsConfig"] = config
    if aliases:
        out["hostAliases"] = [{"ip": ip, "hostnames": names} for ip, names in aliases.items()]
    return out


def _own_hostname(doc: AnyDict) -> str:
    """The hostname the user gave the container: not the short-ID default, not the one of the
    container whose namespaces it joined."""
    hostname = str((doc.get("Config") or {}).get("Hostname") or "")
    mode = str((doc.get("HostConfig") or {}).get("NetworkMode") or "")
    if not hostname or hostname == str(doc.get("Id", ""))[:12] or mode.startswith("container:"):
        return ""
    return dns_name(hostname)


def _service_ports(containers: list[AnyDict]) -> list[AnyDict]:
    """Container ports as Service ports; a published host port in Kubernetes' NodePort range
    becomes the nodePort and leaves the container (as podman's --service), one outside it stays
    the container's hostPort (a cluster refuses such a nodePort)."""
    out: list[AnyDict] = []
    for c in containers:
        for p in c.get("ports", []):
            entry: AnyDict = {
                "name": f"{p['containerPort']}-{p['protocol'].lower()}",
                "port": p["containerPort"],
                "protocol": p["protocol"],
                "targetPort": p["containerPort"],
            }
            if p.get("hostPort", 0) in NODE_PORTS:
                entry["nodePort"] = p.pop("hostPort")
                p.pop("hostIP", None)
            if all(e["name"] != entry["name"] for e in out):
                out.append(entry)
    return out


def claim(volume: AnyDict) -> AnyDict:
    """A named volume as a PersistentVolumeClaim named as Kubernetes allows (the volume's own
    name, when it differs, and its driver kept as annotations)."""
    name = str(volume.get("Name") or "")
    meta: AnyDict = {"name": object_name(name)}
    annotations: AnyDict = {}
    if object_name(name) != name:  # what `kube play` reads back to find the Docker volume
        annotations[VOLUME_NAME] = name
    if volume.get("Driver") and volume["Driver"] != "local":
        annotations["volume.dockyard.io/driver"] = str(volume["Driver"])
    labels = {k: str(v) for k, v in (volume.get("Labels") or {}).items()
              if not k.startswith(KUBE_PREFIX) and valid_label(k, str(v))}  # fmt: skip
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": meta,
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
