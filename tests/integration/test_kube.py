"""`dockyard kube generate|play|down` (#19, E7, N4) on the private daemon: real pods (an infra
container holding the network namespace, containers joined to it), the generated manifest checked
against the Kubernetes schemas kubernetes-validate bundles, the generate -> down -> play round
trip, and bad manifests refused with their paths and nothing made."""

from __future__ import annotations

import copy
import json
import secrets
import shutil
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.conftest import Daemon, until
from tests.integration.network_helpers import free_port

pytestmark = pytest.mark.integration


def dy(d: Daemon, *args: str) -> str:
    r = d.dockyard(*args, timeout=120)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def inspect(d: Daemon, name: str) -> dict[str, Any]:
    status, doc = d.api("GET", f"/containers/{name}/json")
    assert status == 200, doc
    return dict(doc)


def everything(d: Daemon) -> tuple[set[str], set[str]]:
    _, ctrs = d.api("GET", "/containers/json?all=1")
    _, vols = d.api("GET", "/volumes")
    return {c["Id"] for c in ctrs}, {v["Name"] for v in vols["Volumes"] or []}


@pytest.fixture
def scratch() -> Iterator[Path]:
    p = Path(tempfile.mkdtemp(prefix="dy-kube-"))
    try:
        yield p
    finally:
        shutil.rmtree(p, ignore_errors=True)


def validate(text: str) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(text) if d]
    for doc in docs:
        kubernetes_validate.validate(copy.deepcopy(doc), kubernetes_validate.latest_version(),
                                     strict=True)  # fmt: skip
    return docs


def essentials(doc: dict[str, Any]) -> dict[str, Any]:
    """What the round trip must keep of a container."""
    cfg, host = doc["Config"], doc["HostConfig"]
    health = cfg.get("Healthcheck") or {}
    return {
        "image": cfg["Image"],
        "entrypoint": cfg.get("Entrypoint"),
        "cmd": cfg["Cmd"],
        "env": sorted(cfg["Env"]),
        "workdir": cfg["WorkingDir"],
        "mounts": sorted(
            (m["Type"], m.get("Name") or m.get("Source"), m["Destination"], m["RW"])
            for m in doc["Mounts"]
            if m["Type"] != "tmpfs"
        ),  # fmt: skip
        "tmpfs": sorted(host.get("Tmpfs") or {}),
        "limits": (host["Memory"], host["NanoCpus"], host["CpuShares"]),
        "restart": host["RestartPolicy"]["Name"],
        "caps": (host.get("CapAdd"), host.get("CapDrop")),
        "health": (health.get("Test"), health.get("Interval"), health.get("Retries")),
    }


def published(d: Daemon, doc: dict[str, Any]) -> dict[str, Any]:
    """The container's published ports: its own, or its pod's infra container's."""
    mode = doc["HostConfig"]["NetworkMode"]
    owner = inspect(d, mode.split(":", 1)[1]) if mode.startswith("container:") else doc
    return {k: [(b["HostIp"], b["HostPort"]) for b in v]
            for k, v in owner["HostConfig"]["PortBindings"].items()}  # fmt: skip


def fetch(port: int, path: str = "/") -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        return bytes(resp.read())


def test_generate_validates_and_the_round_trip_runs_the_same_container(
    daemon: Daemon, scratch: Path
) -> None:
    """The issue's "done when": a container with ports, env, a volume, a bind, a tmpfs, limits
    and a healthcheck -> a manifest the schemas accept -> rm -> play -> the same container, up."""
    tag = secrets.token_hex(3)
    name, volume, port = f"kweb{tag}", f"kdata{tag}", free_port()
    (scratch / "site").mkdir()
    (scratch / "site" / "index.html").write_text("from the bind\n")
    dy(daemon, "run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8080", "-e", "GREETING=hi",
       "-v", f"{volume}:/data", "-v", f"{scratch / 'site'}:/www:ro", "--tmpfs", "/cache:size=8m",
       "-m", "96m", "--cpus", "0.5", "--cpu-shares", "256", "--restart", "on-failure", "--cap-drop", "MKNOD",
       "--health-cmd", "wget -q -O /dev/null http://127.0.0.1:8080/index.html",
       "--health-interval", "2s", "--health-retries", "2", "-w", "/data",
       "--add-host", "db.test:10.1.2.3", "--dns-search", "example.test",
       "busybox", "httpd", "-f", "-p", "8080", "-h", "/www")  # fmt: skip
    try:
        before = inspect(daemon, name)
        text = dy(daemon, "kube", "generate", name)
        docs = validate(text)
        assert [d["kind"] for d in docs] == ["PersistentVolumeClaim", "Pod"]
        assert docs[0]["metadata"]["name"] == volume
        path = scratch / "web.yaml"
        dy(daemon, "kube", "generate", "-f", str(path), name)
        assert path.read_text() == text
        dy(daemon, "rm", "-f", name)
        out = dy(daemon, "kube", "play", str(path))
        assert out.startswith(f"Pod:\n{name}-pod\nContainers:\n")
        after = inspect(daemon, f"{name}-pod-{name}")
        assert after["State"]["Running"]
        want = essentials(before)
        # Kubernetes' probe timeout is said explicitly (Docker's 30s default), so compare the rest
        assert essentials(after) == want
        assert published(daemon, after) == published(daemon, before) == {
            "8080/tcp": [("127.0.0.1", str(port))]}  # fmt: skip
        assert until(lambda: _try(fetch, port, "/index.html"), 10) == b"from the bind\n"
        # the pod's /etc/hosts and resolv.conf (the infra container's) keep --add-host and
        # --dns-search
        hosts = dy(daemon, "exec", after["Id"], "cat", "/etc/hosts", "/etc/resolv.conf")
        assert "10.1.2.3\tdb.test" in hosts and "search example.test" in hosts
        status = until(lambda: inspect(daemon, after["Id"])["State"]["Health"]["Status"] ==
                       "healthy", 20)  # fmt: skip
        assert status
        # generate -> down -> play from the pod: the same manifest (the container's name without
        # the pod's prefix), and the same container once more
        second = scratch / "second.yaml"
        dy(daemon, "kube", "generate", "-f", str(second), f"{name}-pod")
        assert second.read_text() == text
        dy(daemon, "kube", "down", str(path))
        assert after["Id"] not in everything(daemon)[0]
        dy(daemon, "kube", "play", str(second))
        again = inspect(daemon, f"{name}-pod-{name}")
        assert essentials(again) == want
        assert published(daemon, again) == published(daemon, before)
        # --replace: what the last play made goes, the same pod comes again
        dy(daemon, "kube", "play", "--replace", str(second))
        third = inspect(daemon, f"{name}-pod-{name}")
        assert third["Id"] != again["Id"] and essentials(third) == want
        dy(daemon, "kube", "down", str(second))
        ids, vols = everything(daemon)
        assert third["Id"] not in ids and volume in vols  # the volume was there before play
    finally:
        daemon.dockyard("rm", "-f", name, f"{name}-pod-{name}", f"{name}-pod-infra")
        daemon.dockyard("volume", "rm", volume)


def _try(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except OSError:
        return None


POD = """
apiVersion: v1
kind: ConfigMap
metadata: {name: site-TAG}
data: {index.html: hello from the configmap, MODE: test}
---
apiVersion: v1
kind: Secret
metadata: {name: creds-TAG}
stringData: {password: s3cr3t}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: claim-TAG}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: v1
kind: Pod
metadata: {name: duo-TAG, labels: {app: duo}}
spec:
  restartPolicy: Never
  volumes:
  - {name: site, configMap: {name: site-TAG}}
  - {name: work, emptyDir: {}}
  - {name: keep, persistentVolumeClaim: {claimName: claim-TAG}}
  initContainers:
  - name: prep
    image: busybox
    command: [sh, -c, "echo prepared > /work/ready && echo kept > /keep/f"]
    volumeMounts: [{name: work, mountPath: /work}, {name: keep, mountPath: /keep}]
  containers:
  - name: web
    image: busybox
    command: [httpd, -f, -p, "8080", -h, /www]
    ports: [{containerPort: 8080, hostPort: PORT, hostIP: 127.0.0.1}]
    volumeMounts: [{name: site, mountPath: /www}]
    livenessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
  - name: client
    image: busybox
    command: [sh, -c, "test -f /work/ready || exit 7; trap 'exit 0' TERM; while :; do sleep 1; done"]
    env:
    - {name: MODE, valueFrom: {configMapKeyRef: {name: site-TAG, key: MODE}}}
    - {name: PASSWORD, valueFrom: {secretKeyRef: {name: creds-TAG, key: password}}}
    volumeMounts: [{name: work, mountPath: /work}, {name: keep, mountPath: /keep, readOnly: true}]
"""


def test_a_pod_shares_localhost_and_down_removes_exactly_what_play_made(
    daemon: Daemon, scratch: Path
) -> None:
    tag, port = secrets.token_hex(3), free_port()
    path = scratch / "pod.yaml"
    path.write_text(POD.replace("TAG", tag).replace("PORT", str(port)))
    validate(path.read_text())
    ids_before, vols_before = everything(daemon)
    pod = f"duo-{tag}"
    try:
        dy(daemon, "kube", "play", str(path))
        web, client, infra = (inspect(daemon, f"{pod}-{n}") for n in ("web", "client", "infra"))
        assert web["HostConfig"]["NetworkMode"] == f"container:{infra['Id']}"
        assert client["HostConfig"]["NetworkMode"] == f"container:{infra['Id']}"
        assert infra["Config"]["Hostname"] == pod
        # two containers of one pod reach each other on localhost
        got = until(lambda: daemon.dockyard("exec", f"{pod}-client", "wget", "-q", "-O", "-",
                                            "http://127.0.0.1:8080/index.html").stdout, 10)  # fmt: skip
        assert got == "hello from the configmap"
        assert until(lambda: _try(fetch, port, "/index.html"), 10) == b"hello from the configmap"
        env = dy(daemon, "exec", f"{pod}-client", "sh", "-c", "echo $MODE $PASSWORD")
        assert env == "test s3cr3t\n"
        # the init container ran to completion first (the client exits 7 without its file)
        assert dy(daemon, "exec", f"{pod}-client", "cat", "/work/ready") == "prepared\n"
        status, _ = daemon.api("GET", f"/containers/{pod}-prep/json")
        assert status == 404
        assert web["HostConfig"]["RestartPolicy"]["Name"] == "no"
        assert web["Config"]["Healthcheck"]["Test"] == [
            "CMD",
            "nc",
            "-w",
            "1",
            "127.0.0.1",
            "8080",
            "-e",
            "true",
        ]
        assert until(lambda: inspect(daemon, f"{pod}-web")["State"]["Health"]["Status"] ==
                     "healthy", 20)  # fmt: skip
        # down: every container and volume play made, the claim it made too, nothing else
        out = dy(daemon, "kube", "down", str(path))
        assert out.startswith(f"Pods stopped:\n{pod}\nPods removed:\n{pod}\nVolumes removed:\n")
        assert everything(daemon) == (ids_before, vols_before)
        assert f"claim-{tag}" not in vols_before and f"{pod}-work" in out
    finally:
        daemon.dockyard("kube", "down", str(path))


def test_a_claim_that_was_there_is_kept_and_a_deployment_runs_its_replicas(
    daemon: Daemon, scratch: Path
) -> None:
    tag = secrets.token_hex(3)
    dy(daemon, "volume", "create", f"claim-{tag}")
    text = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: rep-{tag}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: rep}}}}
  template:
    metadata: {{labels: {{app: rep}}}}
    spec:
      volumes: [{{name: d, persistentVolumeClaim: {{claimName: claim-{tag}}}}}]
      containers:
      - name: main
        image: busybox
        command: [sh, -c, "hostname >> /d/seen; trap 'exit 0' TERM; while :; do sleep 1; done"]
        resources: {{limits: {{memory: 32Mi, cpu: 100m}}}}
        volumeMounts: [{{name: d, mountPath: /d}}]
"""
    path = scratch / "dep.yaml"
    path.write_text(text)
    validate(text)
    try:
        dy(daemon, "kube", "play", str(path))
        for i in range(2):
            doc = inspect(daemon, f"rep-{tag}-pod-{i}-main")
            assert doc["State"]["Running"]
            assert doc["HostConfig"]["RestartPolicy"]["Name"] == "always"
            assert (doc["HostConfig"]["Memory"], doc["HostConfig"]["NanoCpus"]) == (
                32 << 20, 100_000_000)  # fmt: skip
        seen = until(lambda: set(dy(daemon, "exec", f"rep-{tag}-pod-0-main", "cat", "/d/seen")
                                 .split()) == {f"rep-{tag}-pod-0", f"rep-{tag}-pod-1"}, 10)  # fmt: skip
        assert seen
        dy(daemon, "kube", "down", str(path))
        _, vols = everything(daemon)
        assert f"claim-{tag}" in vols  # not made by play: kept
        status, _ = daemon.api("GET", f"/containers/rep-{tag}-pod-0-infra/json")
        assert status == 404
    finally:
        daemon.dockyard("kube", "down", str(path))
        daemon.dockyard("volume", "rm", f"claim-{tag}")


BAD = [
    ("kind: Frobnicator\nmetadata: {name: x}\n", "kind: unsupported kind 'Frobnicator'"),
    ("kind: Pod\nmetadata: {name: p}\nspec:\n  volumes: [{name: v, emptyDir: {}}]\n"
     "  containers: [{name: ok, image: busybox}, {name: a}]\n",
     'Pod "p": spec.containers[1].image: required'),
    ("kind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: busybox, "
     "ports: [{containerPort: eighty}]}]\n",
     'Pod "p": spec.containers[0].ports[0].containerPort: expected integer, got string'),
]  # fmt: skip


@pytest.mark.parametrize(("text", "error"), BAD)
def test_bad_manifests_are_refused_with_the_path_and_nothing_made(
    daemon: Daemon, scratch: Path, text: str, error: str
) -> None:
    path = scratch / "bad.yaml"
    path.write_text(text)
    before = everything(daemon)
    r = daemon.dockyard("kube", "play", str(path))
    assert r.returncode == 125, r
    assert r.stderr.startswith(f'Error: error validating "{path}":\n'), r.stderr
    assert error in r.stderr
    assert everything(daemon) == before


def test_a_step_that_fails_undoes_the_steps_before_it(daemon: Daemon, scratch: Path) -> None:
    """The second pod's name is taken: the first pod, its volumes and its infra are removed."""
    tag = secrets.token_hex(3)
    dy(daemon, "create", "--name", f"second-{tag}-infra", "busybox", "true")
    text = POD.replace("TAG", tag).replace("PORT", str(free_port()))
    text += f"---\nkind: Pod\nmetadata: {{name: second-{tag}}}\nspec:\n  containers:\n" \
            "  - {name: a, image: busybox}\n"  # fmt: skip
    path = scratch / "two.yaml"
    path.write_text(text)
    before = everything(daemon)
    try:
        r = daemon.dockyard("kube", "play", str(path))
        assert r.returncode != 0 and "is already in use" in r.stderr, r
        assert everything(daemon) == before
    finally:
        daemon.dockyard("rm", "-f", f"second-{tag}-infra")


def test_a_compose_project_is_one_manifest(daemon: Daemon) -> None:
    tag = secrets.token_hex(3)
    project = f"shop{tag}"
    names = []
    for proj, service, count in ((project, "web", 2), (project, "db", 1), (f"o{tag}", "web", 1)):
        for i in range(count):
            name = f"{proj}_{service}_{i + 1}"  # another project's web must not count
            names.append(name)
            dy(daemon, "create", "--name", name, "--label", f"com.docker.compose.project={proj}",
               "--label", f"com.docker.compose.service={service}", "-e", f"ROLE={service}",
               "busybox", "sleep", "1")  # fmt: skip
    try:
        docs = validate(dy(daemon, "kube", "generate", "--compose", project, "--type",
                           "deployment"))  # fmt: skip
        got = {d["metadata"]["name"]: d["spec"]["replicas"] for d in docs}
        assert got == {f"{project}-web-deployment": 2, f"{project}-db-deployment": 1}
        env = {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["env"]
               for d in docs}  # fmt: skip
        assert env[f"{project}-db-deployment"] == [{"name": "ROLE", "value": "db"}]
        labels = docs[0]["spec"]["template"]["metadata"]["labels"]
        assert labels["com.docker.compose.project"] == project
        r = daemon.dockyard("kube", "generate", "--compose", f"none{tag}")
        assert r.returncode == 125 and "no containers of compose project" in r.stderr
    finally:
        daemon.dockyard("rm", "-f", *names)


def test_generate_of_an_unknown_name_fails(daemon: Daemon) -> None:
    r = daemon.dockyard("kube", "generate", "nosuchthing-x1")
    assert (r.returncode, r.stderr) == (125, 'Error: name or ID "nosuchthing-x1" not found\n')


def test_generate_names_the_volume_and_json_inspect_is_untouched(daemon: Daemon) -> None:
    tag = secrets.token_hex(3)
    dy(daemon, "volume", "create", "--label", "team=a", f"vol{tag}")
    try:
        docs = validate(dy(daemon, "kube", "generate", f"vol{tag}"))
        assert docs == [{"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                         "metadata": {"name": f"vol{tag}", "labels": {"team": "a"}},
                         "spec": {"accessModes": ["ReadWriteOnce"],
                                  "resources": {"requests": {"storage": "1Gi"}}}}]  # fmt: skip
        _, vol = daemon.api("GET", f"/volumes/vol{tag}")
        assert json.dumps(vol["Labels"]) == '{"team": "a"}'
    finally:
        daemon.dockyard("volume", "rm", f"vol{tag}")


def test_containers_sharing_a_network_namespace_are_one_pod(daemon: Daemon, scratch: Path) -> None:
    """`kube generate SIDE` of a container in `container:MAIN` mode brings MAIN into the pod;
    played back, the two share localhost again, now through an infra container."""
    tag = secrets.token_hex(3)
    main, side = f"main{tag}", f"side{tag}"
    dy(daemon, "run", "-d", "--name", main, "busybox", "httpd", "-f", "-p", "8080")
    dy(daemon, "run", "-d", "--name", side, "--network", f"container:{main}", "busybox",
       "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done")  # fmt: skip
    path = scratch / "pair.yaml"
    try:
        dy(daemon, "kube", "generate", "-f", str(path), side)
        (pod,) = validate(path.read_text())
        assert pod["metadata"]["name"] == f"main{tag}-pod"  # named after the namespace's owner
        assert [c["name"] for c in pod["spec"]["containers"]] == [main, side]
        dy(daemon, "rm", "-f", side, main)
        dy(daemon, "kube", "play", str(path))
        probe = ("exec", f"main{tag}-pod-{side}", "nc", "-w", "1", "127.0.0.1", "8080",
                 "-e", "true")  # fmt: skip
        got = until(lambda: daemon.dockyard(*probe).returncode == 0, 10)
        assert got
    finally:
        daemon.dockyard("rm", "-f", side, main)
        daemon.dockyard("kube", "down", str(path))


def test_an_image_that_cannot_be_pulled_fails_before_anything_is_made(
    daemon: Daemon, scratch: Path
) -> None:
    port = free_port()  # nothing listens there: the pull is refused at once, on this host
    path = scratch / "nopull.yaml"
    path.write_text("kind: Pod\nmetadata: {name: np}\nspec:\n  volumes: [{name: v, emptyDir: {}}]\n"
                    f"  containers: [{{name: a, image: '127.0.0.1:{port}/none:1'}}]\n")  # fmt: skip
    before = everything(daemon)
    r = daemon.dockyard("kube", "play", str(path))
    assert r.returncode == 125, r
    assert r.stderr.splitlines()[-1].startswith(f"Error: pulling 127.0.0.1:{port}/none:1: "), r
    assert everything(daemon) == before


def test_generate_refuses_bad_flags_and_an_existing_file(daemon: Daemon, scratch: Path) -> None:
    (scratch / "there.yaml").write_text("kept\n")
    for args, error in (
        (("--replicas", "0", "x"), "Error: --replicas must be at least 1\n"),
        (("--replicas", "2", "x"), "Error: --replicas needs --type deployment\n"),
        (("-f", str(scratch / "there.yaml"), "x"),
         f'Error: cannot write to "{scratch / "there.yaml"}": the file exists\n'),
    ):  # fmt: skip
        r = daemon.dockyard("kube", "generate", *args)
        assert (r.returncode, r.stderr) == (125, error)
    assert (scratch / "there.yaml").read_text() == "kept\n"


def test_an_init_container_that_fails_undoes_the_pod(daemon: Daemon, scratch: Path) -> None:
    path = scratch / "init.yaml"
    path.write_text("kind: Pod\nmetadata: {name: initfail}\nspec:\n"
                    "  volumes: [{name: v, emptyDir: {}}]\n"
                    "  initContainers: [{name: prep, image: busybox, "
                    "command: [sh, -c, 'echo no database >&2; exit 3']}]\n"
                    "  containers: [{name: app, image: busybox}]\n")  # fmt: skip
    before = everything(daemon)
    r = daemon.dockyard("kube", "play", str(path))
    assert (r.returncode, r.stderr) == (
        125, "Error: init container 'prep' of pod 'initfail' exited with 3: no database\n")  # fmt: skip
    assert everything(daemon) == before
