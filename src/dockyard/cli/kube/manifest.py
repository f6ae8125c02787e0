"""`kube play`'s reading of a manifest: YAML documents checked field by field and resolved into a
Plan. Every error names its manifest path (`spec.containers[0].image: required`) and all are
reported before anything is made (#19, E7; D-kube-3). Pure."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator
from typing import Any

import yaml

from dockyard.cli.kube import quantity
from dockyard.cli.kube.labels import VOLUME_NAME
from dockyard.cli.kube.plan import AnyDict, Container, Mount, Plan, Pod, Volume

KINDS = ("Pod", "Deployment", "ConfigMap", "Secret", "PersistentVolumeClaim", "Service")
_RESTART = {"Always": "always", "OnFailure": "on-failure", "Never": "no"}
_K8S_PROBE_DEFAULTS = {"periodSeconds": 10, "timeoutSeconds": 1, "failureThreshold": 3,
                       "initialDelaySeconds": 0}  # fmt: skip
_NS = 1_000_000_000


class ManifestError(Exception):
    """The manifest is refused; `errors` are `where: path: what` lines."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def load(text: str) -> list[AnyDict]:
    """The YAML documents of a file (empty ones dropped)."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise ManifestError([f"invalid YAML: {exc}".replace("\n", " ")]) from exc
    return docs


class _Check:
    """Typed reads of one document that record errors under their paths instead of raising."""

    def __init__(self, where: str, errors: list[str]) -> None:
        self.where = where
        self.errors = errors

    def fail(self, path: str, what: str) -> None:
        self.errors.append(f"{self.where}: {path}: {what}")

    def typed(self, obj: AnyDict, key: str, path: str, kind: type | tuple[type, ...],
              name: str, required: bool = False) -> Any:  # fmt: skip
        value = obj.get(key)
        if value is None:
            if required:
                self.fail(f"{path}{key}", "required")
            return None
        if isinstance(value, bool) and kind in (int, (int, str)):
            self.fail(f"{path}{key}", f"expected {name}, got boolean")
            return None
        if not isinstance(value, kind):
            self.fail(f"{path}{key}", f"expected {name}, got {_type(value)}")
            return None
        return value

    def string(self, obj: AnyDict, key: str, path: str, required: bool = False) -> str | None:
        value = self.typed(obj, key, path, str, "string", required)
        if required and value == "":
            self.fail(f"{path}{key}", "required")
            return None
        return value  # type: ignore[no-any-return]

    def integer(self, obj: AnyDict, key: str, path: str, required: bool = False) -> int | None:
        return self.typed(obj, key, path, int, "integer", required)  # type: ignore[no-any-return]

    def boolean(self, obj: AnyDict, key: str, path: str) -> bool:
        return bool(self.typed(obj, key, path, bool, "boolean"))

    def mapping(self, obj: AnyDict, key: str, path: str, required: bool = False) -> AnyDict:
        return self.typed(obj, key, path, dict, "object", required) or {}

    def items(self, obj: AnyDict, key: str, path: str, required: bool = False) -> list[Any]:
        value = self.typed(obj, key, path, list, "array", required)
        if required and value == []:
            self.fail(f"{path}{key}", "required")
        return value or []

    def objects(self, obj: AnyDict, key: str, path: str,
                required: bool = False) -> Iterator[tuple[str, AnyDict]]:  # fmt: skip
        """Each object of the array `key` with its path prefix (`path.key[i].`); an element
        that is not an object is an error and skipped."""
        for i, item in enumerate(self.items(obj, key, path, required)):
            where = f"{path}{key}[{i}]."
            if isinstance(item, dict):
                yield where, item
            else:
                self.fail(where[:-1], f"expected object, got {_type(item)}")

    def strings(self, obj: AnyDict, key: str, path: str) -> list[str] | None:
        value = self.typed(obj, key, path, list, "array of strings")
        if value is None:
            return None
        for i, item in enumerate(value):
            if not isinstance(item, str):
                self.fail(f"{path}{key}[{i}]", f"expected string, got {_type(item)}")
        return [str(v) for v in value]

    def string_map(self, obj: AnyDict, key: str, path: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for k, v in self.mapping(obj, key, path).items():
            if not isinstance(v, str):
                self.fail(f"{path}{key}.{k}", f"expected string, got {_type(v)}")
            out[str(k)] = str(v)
        return out

    def cpu(self, obj: AnyDict, key: str, path: str) -> int:
        """A CPU quantity as NanoCpus (0 when absent)."""
        return self._quantity(obj, key, path, quantity.nano_cpus)

    def memory(self, obj: AnyDict, key: str, path: str) -> int:
        """A memory quantity in bytes (0 when absent)."""
        return self._quantity(obj, key, path, quantity.memory_bytes)

    def _quantity(self, obj: AnyDict, key: str, path: str,
                  convert: Callable[[str | int], int]) -> int:  # fmt: skip
        value = self.typed(obj, key, path, (int, str), "quantity")
        if value is None:
            return 0
        try:
            return convert(value)
        except quantity.QuantityError as exc:
            self.fail(f"{path}{key}", str(exc))
            return 0


def _type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer",
            float: "number"}.get(type(value), type(value).__name__)  # fmt: skip


class _Sources:
    """The ConfigMaps and Secrets of the file, by name: data as bytes per key."""

    def __init__(self) -> None:
        self.config_maps: dict[str, dict[str, bytes]] = {}
        self.secrets: dict[str, dict[str, bytes]] = {}
        self.volumes: dict[str, str] = {}  # claim name -> the Docker volume it names

    def add_claim(self, doc: AnyDict, c: _Check) -> None:
        meta = c.mapping(doc, "metadata", "", True)
        name = c.string(meta, "name", "metadata.", True) or ""
        volume = c.string_map(meta, "annotations", "metadata.").get(VOLUME_NAME)
        self.volumes[name] = volume or name

    def volume(self, claim: str) -> str:
        return self.volumes.get(claim, claim)

    def add(self, doc: AnyDict, c: _Check) -> None:
        name = c.string(c.mapping(doc, "metadata", "", True), "name", "metadata.", True) or ""
        data: dict[str, bytes] = {}
        if doc["kind"] == "ConfigMap":
            for k, v in c.string_map(doc, "data", "").items():
                data[k] = v.encode()
            for k, v in c.string_map(doc, "binaryData", "").items():
                data[k] = _b64(v, f"binaryData.{k}", c)
            self.config_maps[name] = data
        else:
            for k, v in c.string_map(doc, "data", "").items():
                data[k] = _b64(v, f"data.{k}", c)
            for k, v in c.string_map(doc, "stringData", "").items():
                data[k] = v.encode()
            self.secrets[name] = data

    def get(self, kind: str, name: str) -> dict[str, bytes] | None:
        return (self.config_maps if kind == "configMap" else self.secrets).get(name)


def _b64(value: str, path: str, c: _Check) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        c.fail(path, "illegal base64 data")
        return b""


def plan(docs: list[Any]) -> Plan:
    """Check every document and resolve the pods; raise ManifestError listing every problem."""
    errors: list[str] = []
    out = Plan()
    sources = _Sources()
    checked: list[tuple[AnyDict, _Check]] = []
    for i, doc in enumerate(docs):
        where = f"document {i}"
        if not isinstance(doc, dict):
            errors.append(f"{where}: expected object, got {_type(doc)}")
            continue
        kind = doc.get("kind")
        name = (
            (doc.get("metadata") or {}).get("name")
            if isinstance(doc.get("metadata"), dict)
            else None
        )
        if isinstance(kind, str) and isinstance(name, str):
            where = f'{kind} "{name}"'
        c = _Check(where, errors)
        if kind is None:
            c.fail("kind", "required")
            continue
        if kind not in KINDS:
            c.fail("kind", f"unsupported kind {kind!r} (supported: {', '.join(KINDS)})")
            continue
        if kind in ("ConfigMap", "Secret"):
            sources.add(doc, c)
        elif kind == "PersistentVolumeClaim":
            sources.add_claim(doc, c)
        checked.append((doc, c))
    pods: list[tuple[Pod, AnyDict]] = []
    for doc, c in checked:
        kind = doc["kind"]
        meta = c.mapping(doc, "metadata", "", True)
        name = (c.string(meta, "name", "metadata.", True) if "metadata" in doc else "") or ""
        if kind == "Pod":
            out.owners.append(f"Pod/{name}")
            pod = _pod(name, f"Pod/{name}", meta, c.mapping(doc, "spec", "", True), "spec.", c,
                       sources)  # fmt: skip
            pods.append((pod, pod.labels))
        elif kind == "Deployment":
            out.owners.append(f"Deployment/{name}")
            spec = c.mapping(doc, "spec", "", True)
            replicas = c.integer(spec, "replicas", "spec.")
            replicas = 1 if replicas is None else replicas
            if replicas < 0:
                c.fail("spec.replicas", "must be greater than or equal to 0")
            template = c.mapping(spec, "template", "spec.", True)
            tmeta = c.mapping(template, "metadata", "spec.template.")
            tspec = c.mapping(template, "spec", "spec.template.", True)
            for r in range(max(replicas, 0)):
                pod_name = f"{name}-pod" if replicas == 1 else f"{name}-pod-{r}"
                pod = _pod(pod_name, f"Deployment/{name}", tmeta, tspec, "spec.template.spec.",
                           c if r == 0 else _Check(c.where, []), sources)  # fmt: skip
                pods.append((pod, pod.labels))
            if replicas > 1 and any(p[2] for ctr in pods[-1][0].containers for p in ctr.ports):
                c.fail("spec.template.spec.containers[].ports[].hostPort",
                       f"{replicas} replicas cannot publish the same host port")  # fmt: skip
        elif kind == "PersistentVolumeClaim":
            out.owners.append(f"PersistentVolumeClaim/{name}")
            out.claims.append(Volume(sources.volume(name), claim=True))
    for doc, c in checked:
        if doc["kind"] == "Service":
            _service(doc, c, [p for p, _ in pods])
    if errors:
        raise ManifestError(errors)
    out.pods = [p for p, _ in pods]
    return out


def _pod(name: str, owner: str, meta: AnyDict, spec: AnyDict, path: str, c: _Check,
         sources: _Sources) -> Pod:  # fmt: skip
    pod = Pod(name=name, owner=owner)
    pod.labels = c.string_map(meta, "labels", "metadata.")
    pod.annotations = c.string_map(meta, "annotations", "metadata.")
    restart = c.string(spec, "restartPolicy", path) or "Always"
    if restart not in _RESTART:
        c.fail(f"{path}restartPolicy", f"unsupported value {restart!r} (Always, OnFailure, Never)")
    pod.restart = _RESTART.get(restart, "always")
    pod.hostname = c.string(spec, "hostname", path) or name
    _dns(pod, spec, path, c)
    volumes = _pod_volumes(pod, spec, path, c, sources)
    pod_sc = c.mapping(spec, "securityContext", path)
    for key, target in (("containers", pod.containers), ("initContainers", pod.init_containers)):
        for where, item in c.objects(spec, key, path, required=key == "containers"):
            target.append(_container(item, where, c, volumes, sources, pod_sc))
    names = [x.name for x in pod.init_containers + pod.containers]
    for i, n in enumerate(names):
        if n and n in names[:i]:
            c.fail(f"{path}containers", f"duplicate container name {n!r}")
    if c.typed(spec, "hostNetwork", path, bool, "boolean"):
        c.fail(f"{path}hostNetwork", "not supported")
    return pod


def _dns(pod: Pod, spec: AnyDict, path: str, c: _Check) -> None:
    """`dnsConfig` and `hostAliases`, for the infra container (the pod's resolv.conf and hosts)."""
    config = c.mapping(spec, "dnsConfig", path)
    where = f"{path}dnsConfig."
    for key, field in (("nameservers", "Dns"), ("searches", "DnsSearch")):
        values = c.strings(config, key, where)
        if values:
            pod.dns[field] = values
    options = []
    for at, opt in c.objects(config, "options", where):
        name = c.string(opt, "name", at, True) or ""
        value = c.string(opt, "value", at)
        options.append(f"{name}:{value}" if value is not None else name)
    if options:
        pod.dns["DnsOptions"] = options
    for at, alias in c.objects(spec, "hostAliases", path):
        ip = c.string(alias, "ip", at, True) or ""
        pod.extra_hosts.extend(f"{h}:{ip}" for h in c.strings(alias, "hostnames", at) or [])


def _pod_volumes(pod: Pod, spec: AnyDict, path: str, c: _Check,
                 sources: _Sources) -> dict[str, Mount]:  # fmt: skip
    """Each pod volume as the mount a container gets (target filled in per volumeMount)."""
    out: dict[str, Mount] = {}
    for where, vol in c.objects(spec, "volumes", path):
        vname = c.string(vol, "name", where, True) or ""
        if "persistentVolumeClaim" in vol:
            pvc = c.mapping(vol, "persistentVolumeClaim", where)
            claim = c.string(pvc, "claimName", f"{where}persistentVolumeClaim.", True) or ""
            claim = sources.volume(claim)
            ro = c.boolean(pvc, "readOnly", f"{where}persistentVolumeClaim.")
            out[vname] = Mount("volume", claim, "", ro)
            if claim and all(v.name != claim for v in pod.volumes):
                pod.volumes.append(Volume(claim, claim=True))
        elif "hostPath" in vol:
            hp = c.mapping(vol, "hostPath", where)
            host_path = c.string(hp, "path", f"{where}hostPath.", True) or ""
            if host_path and not host_path.startswith("/"):
                c.fail(f"{where}hostPath.path", "must be an absolute path")
            out[vname] = Mount("bind", host_path, "")
        elif "emptyDir" in vol:
            ed = c.mapping(vol, "emptyDir", where)
            medium = c.string(ed, "medium", f"{where}emptyDir.") or ""
            if medium == "Memory":
                out[vname] = Mount(
                    "tmpfs", "", "", size=c.memory(ed, "sizeLimit", f"{where}emptyDir.")
                )
            elif medium == "":
                volume = f"{pod.name}-{vname}"
                pod.volumes.append(Volume(volume))
                out[vname] = Mount("volume", volume, "")
            else:
                c.fail(f"{where}emptyDir.medium", f'unsupported value {medium!r} ("", Memory)')
        elif "configMap" in vol or "secret" in vol:
            kind = "configMap" if "configMap" in vol else "secret"
            src = c.mapping(vol, kind, where)
            key_name = "name" if kind == "configMap" else "secretName"
            ref = c.string(src, key_name, f"{where}{kind}.", True) or ""
            optional = c.boolean(src, "optional", f"{where}{kind}.")
            data = sources.get(kind, ref)
            if data is None and not optional and ref:
                c.fail(f"{where}{kind}.{key_name}", f"{kind} {ref!r} not found in the file")
            files = _project(data or {}, src, f"{where}{kind}.", c)
            mode = c.integer(src, "defaultMode", f"{where}{kind}.")
            volume = f"{pod.name}-{vname}"
            pod.volumes.append(Volume(volume, files=files, mode=0o644 if mode is None else mode))
            out[vname] = Mount("volume", volume, "", True)
        else:
            kinds = [k for k in vol if k != "name"]
            c.fail(f"{where[:-1]}", f"unsupported volume type {kinds[0] if kinds else 'none'!r} "
                   "(persistentVolumeClaim, hostPath, emptyDir, configMap, secret)")  # fmt: skip
    return out


def _project(data: dict[str, bytes], src: AnyDict, path: str, c: _Check) -> dict[str, bytes]:
    """The files a configMap/secret volume shows: every key, or the `items` chosen."""
    if not src.get("items"):
        return dict(data)
    out: dict[str, bytes] = {}
    for where, item in c.objects(src, "items", path):
        key = c.string(item, "key", where, True) or ""
        rel = c.string(item, "path", where, True) or ""
        if rel.startswith("/") or ".." in rel.split("/"):
            c.fail(f"{where}path", "must be a relative path without '..'")
        elif key in data:
            out[rel] = data[key]
        elif key:
            c.fail(f"{where}key", f"key {key!r} not found")
    return out


def _container(item: AnyDict, path: str, c: _Check, volumes: dict[str, Mount],
               sources: _Sources, pod_sc: AnyDict) -> Container:  # fmt: skip
    ctr = Container(name=c.string(item, "name", path, True) or "",
                    image=c.string(item, "image", path, True) or "")  # fmt: skip
    ctr.command = c.strings(item, "command", path)
    ctr.args = c.strings(item, "args", path)
    ctr.working_dir = c.string(item, "workingDir", path) or ""
    ctr.env = _env(item, path, c, sources)
    for where, port in c.objects(item, "ports", path):
        number = c.integer(port, "containerPort", where, True) or 0
        if number and not 0 < number < 65536:
            c.fail(f"{where}containerPort", "must be between 1 and 65535")
        proto = c.string(port, "protocol", where) or "TCP"
        if proto not in ("TCP", "UDP", "SCTP"):
            c.fail(f"{where}protocol", f"unsupported value {proto!r} (TCP, UDP, SCTP)")
        host = c.integer(port, "hostPort", where) or 0
        if host and not 0 < host < 65536:
            c.fail(f"{where}hostPort", "must be between 1 and 65535")
        ctr.ports.append((number, proto.lower(), host, c.string(port, "hostIP", where) or ""))
    resources = c.mapping(item, "resources", path)
    limits = c.mapping(resources, "limits", f"{path}resources.")
    requests = c.mapping(resources, "requests", f"{path}resources.")
    ctr.memory = c.memory(limits, "memory", f"{path}resources.limits.")
    ctr.memory_reservation = c.memory(requests, "memory", f"{path}resources.requests.")
    ctr.nano_cpus = c.cpu(limits, "cpu", f"{path}resources.limits.")
    ctr.cpu_shares = quantity.cpu_shares(c.cpu(requests, "cpu", f"{path}resources.requests."))
    ctr.healthcheck = _probe(item, path, c)
    for where, vm in c.objects(item, "volumeMounts", path):
        vname = c.string(vm, "name", where, True) or ""
        target = c.string(vm, "mountPath", where, True) or ""
        if vm.get("subPath"):
            c.fail(f"{where}subPath", "not supported")
        base = volumes.get(vname)
        if vname and base is None:
            c.fail(f"{where}name", f"volume {vname!r} not found in the pod's volumes")
            continue
        if base is not None:
            ro = c.boolean(vm, "readOnly", where) or base.read_only
            ctr.mounts.append(Mount(base.kind, base.source, target, ro, base.size))
    _security(ctr, item, path, c, pod_sc)
    ctr.tty = c.boolean(item, "tty", path)
    ctr.stdin = c.boolean(item, "stdin", path)
    return ctr


def _env(item: AnyDict, path: str, c: _Check, sources: _Sources) -> list[str]:
    out: list[str] = []
    for where, ref in c.objects(item, "envFrom", path):
        prefix = c.string(ref, "prefix", where) or ""
        for key, kind in (("configMapRef", "configMap"), ("secretRef", "secret")):
            if key in ref:
                src = c.mapping(ref, key, where)
                name = c.string(src, "name", f"{where}{key}.", True) or ""
                data = sources.get(kind, name)
                if data is None and name and not c.boolean(src, "optional", f"{where}{key}."):
                    c.fail(f"{where}{key}.name", f"{kind} {name!r} not found in the file")
                out.extend(f"{prefix}{k}={v.decode()}" for k, v in (data or {}).items())
    for where, var in c.objects(item, "env", path):
        name = c.string(var, "name", where, True) or ""
        value = c.typed(var, "value", where, (str, int, float), "string")
        if value is not None:
            out.append(f"{name}={value}")
            continue
        source = c.mapping(var, "valueFrom", where)
        for key, kind in (("configMapKeyRef", "configMap"), ("secretKeyRef", "secret")):
            if key in source:
                sel = c.mapping(source, key, f"{where}valueFrom.")
                owner = c.string(sel, "name", f"{where}valueFrom.{key}.", True) or ""
                k = c.string(sel, "key", f"{where}valueFrom.{key}.", True) or ""
                optional = c.boolean(sel, "optional", f"{where}valueFrom.{key}.")
                data = sources.get(kind, owner) or {}
                if k in data:
                    out.append(f"{name}={data[k].decode()}")
                elif not optional and owner and k:
                    c.fail(f"{where}valueFrom.{key}", f"{kind} {owner!r} has no key {k!r}")
        others = [k for k in source if k not in ("configMapKeyRef", "secretKeyRef")]
        if others:
            c.fail(f"{where}valueFrom.{others[0]}", "not supported")
        elif not source:
            out.append(f"{name}=")
    return out


def _probe(item: AnyDict, path: str, c: _Check) -> AnyDict | None:
    """A liveness probe as a Docker healthcheck (Kubernetes' defaults where the probe says
    nothing); httpGet and tcpSocket run busybox's wget and nc inside the container."""
    probe = c.mapping(item, "livenessProbe", path)
    if not probe:
        return None
    where = f"{path}livenessProbe."
    if "exec" in probe:
        command = c.strings(c.mapping(probe, "exec", where), "command", f"{where}exec.")
        if not command:
            c.fail(f"{where}exec.command", "required")
            return None
        shell = len(command) == 3 and command[:2] == ["/bin/sh", "-c"]
        test = ["CMD-SHELL", command[2]] if shell else ["CMD", *command]  # what generate wrote
    elif "httpGet" in probe:
        get = c.mapping(probe, "httpGet", where)
        port = c.integer(get, "port", f"{where}httpGet.", True) or 0
        host = c.string(get, "host", f"{where}httpGet.") or "127.0.0.1"
        url = f"http://{host}:{port}{c.string(get, 'path', f'{where}httpGet.') or '/'}"
        test = ["CMD", "wget", "-q", "-O", "/dev/null", url]
    elif "tcpSocket" in probe:
        sock = c.mapping(probe, "tcpSocket", where)
        port = c.integer(sock, "port", f"{where}tcpSocket.", True) or 0
        host = c.string(sock, "host", f"{where}tcpSocket.") or "127.0.0.1"
        test = ["CMD", "nc", "-w", "1", host, str(port), "-e", "true"]  # connects, then exits
    else:
        c.fail(where[:-1], "one of exec, httpGet, tcpSocket required")
        return None
    values = {}
    for key, default in _K8S_PROBE_DEFAULTS.items():
        value = c.integer(probe, key, where)
        values[key] = default if value is None else value
    health: AnyDict = {
        "Test": test,
        "Interval": values["periodSeconds"] * _NS,
        "Timeout": values["timeoutSeconds"] * _NS,
        "Retries": values["failureThreshold"],
    }
    if values["initialDelaySeconds"]:
        health["StartPeriod"] = values["initialDelaySeconds"] * _NS
    return health


def _security(ctr: Container, item: AnyDict, path: str, c: _Check, pod_sc: AnyDict) -> None:
    sc = c.mapping(item, "securityContext", path)
    where = f"{path}securityContext."
    uid = c.integer(sc, "runAsUser", where)
    gid = c.integer(sc, "runAsGroup", where)
    uid = uid if uid is not None else pod_sc.get("runAsUser")
    gid = gid if gid is not None else pod_sc.get("runAsGroup")
    if uid is not None:
        ctr.user = f"{uid}:{gid}" if gid is not None else str(uid)
    caps = c.mapping(sc, "capabilities", where)
    ctr.cap_add = c.strings(caps, "add", f"{where}capabilities.") or []
    ctr.cap_drop = c.strings(caps, "drop", f"{where}capabilities.") or []
    ctr.privileged = c.boolean(sc, "privileged", where)
    ctr.read_only = c.boolean(sc, "readOnlyRootFilesystem", where)


def _service(doc: AnyDict, c: _Check, pods: list[Pod]) -> None:
    """A NodePort Service publishes its nodePorts on the host for the pods it selects."""
    spec = c.mapping(doc, "spec", "", True)
    selector = c.string_map(spec, "selector", "spec.")
    kind = c.string(spec, "type", "spec.") or "ClusterIP"
    for where, port in c.objects(spec, "ports", "spec."):
        number = c.integer(port, "port", where, True) or 0
        target = c.typed(port, "targetPort", where, (int, str), "integer or string")
        node = c.integer(port, "nodePort", where)
        proto = (c.string(port, "protocol", where) or "TCP").lower()
        if kind != "NodePort" or not node or not selector:
            continue
        if isinstance(target, str):
            c.fail(f"{where}targetPort", "named target ports are not supported")
            continue
        for pod in pods:
            if all(pod.labels.get(k) == v for k, v in selector.items()):
                pod.extra_ports.append((target or number, proto, node, ""))
