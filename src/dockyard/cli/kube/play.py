"""`kube play` and `kube down` through the Engine API: a pod is an infra container holding the
network namespace (busybox waiting for a signal) and its containers joined to it (`container:`
mode, N4); init containers run to completion first. Everything made is labelled with its owner
and undone in reverse order if a step fails (#19, E7; D-kube-1, D-kube-3)."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from typing import Any, TextIO

from dockyard.cli.client import APIError, Client, frames, quote_path
from dockyard.cli.kube import labels
from dockyard.cli.kube.plan import AnyDict, Container, Plan, Pod, Volume
from dockyard.rollback import Rollback

INFRA_IMAGE = "busybox:latest"
# The pause process: a shell blocked reading a FIFO it holds open itself, so it never wakes until
# a signal comes; TERM and INT end it at once (no timer, no sleep, nothing per second).
PAUSE = [
    "sh",
    "-c",
    "trap 'exit 0' TERM INT; [ -p /.pause ] || mkfifo /.pause; exec 3<>/.pause; read _ <&3",
]


class PlayError(Exception):
    """A step of `play` failed after the manifest was accepted (everything made is undone)."""


def _remove_container(client: Client, ident: str) -> None:
    client.call("DELETE", f"/containers/{quote_path(ident)}", {"force": True, "v": False})


def _remove_volume(client: Client, name: str) -> None:
    client.call("DELETE", f"/volumes/{quote_path(name)}")


def _exists(get: Callable[[], Any]) -> bool:
    try:
        get()
    except APIError as exc:
        if exc.status == 404:
            return False
        raise
    return True


def ensure_image(client: Client, name: str, err: TextIO) -> None:
    """Pull an image that is not here, as `run` does (credentials, progress on stderr); the
    infra image is made offline when missing."""
    if _exists(lambda: client.get(f"/images/{quote_path(name)}/json")):
        return
    if name == INFRA_IMAGE:
        client.post("/dockyard/images/bootstrap", body={"repo": "busybox", "tag": "latest"})
        return
    from dockyard.cli.run import pull

    try:
        pull(client, name, err)
    except APIError as exc:
        raise PlayError(f"pulling {name}: {exc.message}") from exc


def _labels(pod: Pod, owner: str) -> dict[str, str]:
    return {labels.POD: pod.name, labels.OWNER: owner}


def _volume(client: Client, volume: Volume, pod: Pod | None, owner: str, rb: Rollback) -> None:
    """A claim reuses the named volume when it exists (and leaves it for good); otherwise the
    volume is made, labelled, and filled with the configMap/secret files."""
    if volume.claim and _exists(lambda: client.get(f"/volumes/{quote_path(volume.name)}")):
        return
    tags = {labels.OWNER: owner} if pod is None else _labels(pod, owner)
    client.post("/volumes/create", body={"Name": volume.name, "Labels": tags})
    rb.push(_remove_volume, client, volume.name)
    if volume.files:
        _fill(client, volume)


def _fill(client: Client, volume: Volume) -> None:
    """Write the files into the volume through a created (never started) helper container."""
    helper = client.post("/containers/create", body={
        "Image": INFRA_IMAGE, "Cmd": ["true"], "Labels": {labels.KUBE_PREFIX + "helper": "true"},
        "HostConfig": {"Binds": [f"{volume.name}:/kube"], "NetworkMode": "none"},
    })["Id"]  # fmt: skip
    try:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            dirs: set[str] = set()
            for rel, data in sorted(volume.files.items()):
                parts = rel.split("/")[:-1]
                for i in range(len(parts)):
                    d = "/".join(parts[: i + 1])
                    if d not in dirs:
                        dirs.add(d)
                        info = tarfile.TarInfo(d)
                        info.type, info.mode = tarfile.DIRTYPE, 0o755
                        tar.addfile(info)
                info = tarfile.TarInfo(rel)
                info.size, info.mode = len(data), volume.mode
                tar.addfile(info, io.BytesIO(data))
        resp = client.request("PUT", f"/containers/{helper}/archive", {"path": "/kube"},
                              body=buf.getvalue(),
                              headers={"Content-Type": "application/x-tar"})  # fmt: skip
        resp.read()
        resp.close()
    finally:
        _remove_container(client, helper)


def _port_bindings(ports: list[tuple[int, str, int, str]]) -> tuple[AnyDict, AnyDict]:
    exposed: AnyDict = {}
    bindings: AnyDict = {}
    for number, proto, host, ip in ports:
        key = f"{number}/{proto}"
        exposed[key] = {}
        if host:
            bindings.setdefault(key, []).append({"HostIp": ip, "HostPort": str(host)})
    return exposed, bindings


def container_body(ctr: Container, pod: Pod, infra: str, restart: str) -> AnyDict:
    """The create body of one pod container."""
    binds, tmpfs = [], {}
    for m in ctr.mounts:
        if m.kind == "tmpfs":
            opts = [f"size={m.size}"] if m.size else []
            tmpfs[m.target] = ",".join(opts + (["ro"] if m.read_only else []))
        else:
            binds.append(f"{m.source}:{m.target}" + (":ro" if m.read_only else ""))
    host: AnyDict = {
        "NetworkMode": f"container:{infra}",
        "Binds": binds,
        "Tmpfs": tmpfs,
        "Memory": ctr.memory,
        "MemoryReservation": ctr.memory_reservation,
        "NanoCpus": ctr.nano_cpus,
        "CpuShares": ctr.cpu_shares,
        "RestartPolicy": {"Name": restart},
        "CapAdd": ctr.cap_add or None,
        "CapDrop": ctr.cap_drop or None,
        "Privileged": ctr.privileged,
        "ReadonlyRootfs": ctr.read_only,
    }
    body: AnyDict = {
        "Image": ctr.image,
        "Env": ctr.env,
        "WorkingDir": ctr.working_dir,
        "User": ctr.user,
        "Labels": {**pod.labels, **_labels(pod, pod.owner)},
        "Tty": ctr.tty,
        "OpenStdin": ctr.stdin,
        "HostConfig": host,
    }
    if ctr.command is not None:
        body["Entrypoint"] = ctr.command
    if ctr.args is not None:
        body["Cmd"] = ctr.args
    if ctr.healthcheck:
        body["Healthcheck"] = ctr.healthcheck
    return body


def _log_tail(client: Client, ident: str) -> str:
    """The last lines a container wrote (both streams), for an error about it."""
    resp = client.request("GET", f"/containers/{ident}/logs",
                          {"stdout": True, "stderr": True, "tail": "5"})  # fmt: skip
    raw = io.BytesIO(resp.read())
    resp.close()
    text = b"".join(payload for _, payload in frames(raw.read)).decode(errors="replace")
    return f": {text.strip()}" if text.strip() else ""


def _create(client: Client, name: str, body: AnyDict, rb: Rollback) -> str:
    ident = str(client.post("/containers/create", {"name": name}, body)["Id"])
    rb.push(_remove_container, client, ident)
    return ident


def _pod(client: Client, pod: Pod, rb: Rollback, out: TextIO) -> None:
    for volume in pod.volumes:
        _volume(client, volume, pod, pod.owner, rb)
    ports = [p for c in pod.containers for p in c.ports] + pod.extra_ports
    exposed, bindings = _port_bindings(ports)
    infra = _create(client, f"{pod.name}-infra", {
        "Image": INFRA_IMAGE, "Cmd": PAUSE, "Hostname": pod.hostname[:63],
        "Labels": {**_labels(pod, pod.owner), labels.INFRA: "true"},
        "ExposedPorts": exposed,
        "HostConfig": {"PortBindings": bindings, "ExtraHosts": pod.extra_hosts or None,
                       "RestartPolicy": {"Name": "no" if pod.restart == "no" else "always"},
                       **pod.dns},
    }, rb)  # fmt: skip
    client.post(f"/containers/{infra}/start")
    for ctr in pod.init_containers:
        ident = _create(client, f"{pod.name}-{ctr.name}", container_body(ctr, pod, infra, "no"), rb)
        wait = client.begin("POST", f"/containers/{ident}/wait", {"condition": "next-exit"})
        client.post(f"/containers/{ident}/start")
        code = int((wait() or {}).get("StatusCode", -1))
        if code != 0:
            raise PlayError(f"init container {ctr.name!r} of pod {pod.name!r} exited with "
                            f"{code}{_log_tail(client, ident)}")  # fmt: skip
        _remove_container(client, ident)
    made = []
    for ctr in pod.containers:
        body = container_body(ctr, pod, infra, pod.restart)
        made.append(_create(client, f"{pod.name}-{ctr.name}", body, rb))
    for ident in made:
        client.post(f"/containers/{ident}/start")
    out.write(f"Pod:\n{pod.name}\nContainers:\n" + "".join(f"{i}\n" for i in made))


def play(client: Client, plan: Plan, out: TextIO, err: TextIO) -> None:
    """Make what the plan says; on any failure undo every step already taken."""
    images = {INFRA_IMAGE} | {c.image for p in plan.pods for c in p.init_containers + p.containers}
    for image in sorted(images):
        ensure_image(client, image, err)
    with Rollback() as rb:
        for claim in plan.claims:
            _volume(client, claim, None, f"PersistentVolumeClaim/{claim.name}", rb)
        for pod in plan.pods:
            _pod(client, pod, rb, out)
        rb.commit()


def _owned(client: Client, kind: str, owner: str) -> list[AnyDict]:
    filters = json.dumps({"label": [f"{labels.OWNER}={owner}"]})
    if kind == "containers":
        return list(client.get("/containers/json", {"all": True, "filters": filters}))
    return list((client.get("/volumes", {"filters": filters}) or {}).get("Volumes") or [])


def down(client: Client, plan: Plan, out: TextIO) -> None:
    """Remove every container and volume `play` made for the file's owners, pods first."""
    pods: list[str] = []
    volumes: list[str] = []
    for owner in plan.owners:
        containers = _owned(client, "containers", owner)
        containers.sort(key=lambda c: (c.get("Labels") or {}).get(labels.INFRA) == "true")
        for c in containers:
            _remove_container(client, str(c["Id"]))
            pod = (c.get("Labels") or {}).get(labels.POD, "")
            if pod and pod not in pods:
                pods.append(pod)
    for owner in plan.owners:
        for v in _owned(client, "volumes", owner):
            _remove_volume(client, str(v["Name"]))
            volumes.append(str(v["Name"]))
    out.write("Pods stopped:\n" + "".join(f"{p}\n" for p in pods))
    out.write("Pods removed:\n" + "".join(f"{p}\n" for p in pods))
    out.write("Volumes removed:\n" + "".join(f"{v}\n" for v in volumes))
