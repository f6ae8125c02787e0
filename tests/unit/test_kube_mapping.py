"""`kube generate`'s and `kube play`'s mappings (#19, E7) on inspect documents made here: field by
field as Kubernetes names them, every generated manifest checked against the Kubernetes schemas
kubernetes-validate bundles, and manifests refused with the path of each error."""

from __future__ import annotations

import copy
from typing import Any

import kubernetes_validate
import pytest
import yaml

from dockyard.cli.kube import generate, manifest, quantity
from dockyard.cli.kube.play import container_body

K8S = kubernetes_validate.latest_version()
IMAGE = {"Id": "sha256:img", "Config": {"Cmd": ["sh"], "Env": ["PATH=/bin"], "WorkingDir": ""}}


def container(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "Id": "c1",
        "Name": "/web",
        "Image": "sha256:img",
        "Config": {
            "Image": "busybox",
            "Cmd": ["httpd", "-f", "-p", "8080"],
            "Entrypoint": None,
            "Env": ["PATH=/bin", "GREETING=hello world"],
            "WorkingDir": "/srv",
            "User": "1000:2000",
            "Labels": {"tier": "front", "com.example/path": "/not a label value"},
            "Healthcheck": {
                "Test": ["CMD-SHELL", "wget -q -O- http://127.0.0.1:8080/"],
                "Interval": 5_000_000_000,
                "Retries": 2,
                "StartPeriod": 1_500_000_000,
            },  # fmt: skip
        },
        "HostConfig": {
            "PortBindings": {
                "8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18080"}],
                "53/udp": [{"HostIp": "", "HostPort": ""}],
            },  # fmt: skip
            "Memory": 128 << 20,
            "NanoCpus": 1_500_000_000,
            "MemoryReservation": 64 << 20,
            "CpuShares": 512,
            "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 0},
            "CapAdd": ["NET_ADMIN"],
            "CapDrop": ["CAP_MKNOD"],
            "ReadonlyRootfs": True,
            "Privileged": False,
            "NetworkMode": "bridge",
            "Tmpfs": {"/cache": "size=64m,mode=1777"},
        },
        "Mounts": [
            {"Type": "volume", "Name": "data", "Destination": "/data", "RW": True},
            {"Type": "bind", "Source": "/srv/site", "Destination": "/www", "RW": False},
        ],
    }
    for key, value in over.items():
        doc[key] = value
    return doc


def validate(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        # strict: a field Kubernetes does not know (a wrong casing) fails too
        kubernetes_validate.validate(copy.deepcopy(obj), K8S, strict=True)


def gen(docs: list[dict[str, Any]], **opts: Any) -> generate.Generated:
    return generate.pod_objects("web-pod", docs, {"sha256:img": IMAGE}, generate.Options(**opts),
                                lambda p: "Directory")  # fmt: skip


def test_every_field_maps_and_the_pod_validates() -> None:
    made = gen([container()])
    validate(made.objects)
    assert made.claims == ["data"]
    pod = made.objects[0]
    assert pod["kind"] == "Pod" and pod["metadata"]["name"] == "web-pod"
    assert pod["metadata"]["labels"] == {"app": "web-pod", "tier": "front"}
    assert pod["metadata"]["annotations"] == {"com.example/path": "/not a label value"}
    spec = pod["spec"]
    assert spec["restartPolicy"] == "OnFailure"
    (c,) = spec["containers"]
    assert c["name"] == "web" and c["image"] == "busybox"
    assert "command" not in c and c["args"] == ["httpd", "-f", "-p", "8080"]
    assert c["env"] == [{"name": "GREETING", "value": "hello world"}]  # the image's PATH left out
    assert c["workingDir"] == "/srv"
    assert c["ports"] == [
        {"containerPort": 53, "protocol": "UDP"},
        {"containerPort": 8080, "protocol": "TCP", "hostPort": 18080, "hostIP": "127.0.0.1"},
    ]
    assert c["resources"] == {"limits": {"memory": "128Mi", "cpu": "1500m"},
                              "requests": {"memory": "64Mi", "cpu": "500m"}}  # fmt: skip
    assert c["livenessProbe"] == {
        "exec": {"command": ["/bin/sh", "-c", "wget -q -O- http://127.0.0.1:8080/"]},
        "periodSeconds": 5, "timeoutSeconds": 30, "failureThreshold": 2, "initialDelaySeconds": 2,
    }  # fmt: skip
    assert c["securityContext"] == {
        "runAsUser": 1000, "runAsGroup": 2000,
        "capabilities": {"add": ["NET_ADMIN"], "drop": ["MKNOD"]},
        "readOnlyRootFilesystem": True,
    }  # fmt: skip
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes[mounts["/data"]["name"]]["persistentVolumeClaim"] == {"claimName": "data"}
    assert volumes[mounts["/www"]["name"]]["hostPath"] == {"path": "/srv/site", "type": "Directory"}
    assert mounts["/www"]["readOnly"] is True
    assert volumes[mounts["/cache"]["name"]]["emptyDir"] == {"medium": "Memory",
                                                             "sizeLimit": "64Mi"}  # fmt: skip


def test_a_wrong_casing_fails_the_schema_check() -> None:
    """The validation the tests rely on can fail: `containerport` is not Kubernetes'."""
    pod = gen([container()]).objects[0]
    pod["spec"]["containers"][0]["ports"][0]["containerport"] = 53
    with pytest.raises(kubernetes_validate.ValidationError):
        validate([pod])


@pytest.mark.parametrize(
    ("entry", "cmd", "image_entry", "want"),
    [
        (None, ["sh"], None, {}),  # the image's own command: nothing said
        (["/bin/app"], ["-v"], None, {"command": ["/bin/app"], "args": ["-v"]}),
        (["/init"], ["run"], ["/init"], {"args": ["run"]}),  # the image's entrypoint kept
        (None, ["echo", "x"], ["/init"], {"command": ["echo", "x"]}),  # --entrypoint ""
    ],
)
def test_entrypoint_and_cmd_become_command_and_args(
    entry: list[str] | None, cmd: list[str], image_entry: list[str] | None, want: dict[str, Any]
) -> None:
    doc = container()
    doc["Config"].update(Entrypoint=entry, Cmd=cmd)
    image = {"Config": {"Cmd": ["sh"], "Entrypoint": image_entry}}
    made = generate.pod_objects("p", [doc], {"sha256:img": image}, generate.Options(),
                                lambda p: "")  # fmt: skip
    c = made.objects[0]["spec"]["containers"][0]
    assert {k: c[k] for k in ("command", "args") if k in c} == want


def test_service_takes_the_host_ports_and_a_deployment_validates() -> None:
    doc = container()
    doc["HostConfig"]["PortBindings"]["8080/tcp"][0]["HostPort"] = "30080"
    doc["HostConfig"]["PortBindings"]["9090/tcp"] = [{"HostIp": "", "HostPort": "19090"}]
    made = gen([doc], kind="deployment", service=True, replicas=3)
    validate(made.objects)
    deployment, service = made.objects
    assert deployment["kind"] == "Deployment" and deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["template"]["spec"]["restartPolicy"] == "Always"
    ports = deployment["spec"]["template"]["spec"]["containers"][0]["ports"]
    # 19090 is outside the NodePort range a cluster accepts: it stays a hostPort
    assert [p.get("hostPort") for p in ports] == [None, None, 19090]
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["selector"] == {"app": "web-pod"}
    got = {p["port"]: p.get("nodePort") for p in service["spec"]["ports"]}
    assert got == {53: None, 8080: 30080, 9090: None}
    assert any("restartPolicy must be Always" in w for w in made.warnings)


def test_containers_sharing_a_netns_are_one_pod_and_a_name_user_is_a_warning() -> None:
    second = container(Id="c2", Name="/side", Mounts=[])
    second["Config"].update(User="nobody", Healthcheck={"Test": ["NONE"]})
    second["HostConfig"] = {"NetworkMode": "container:c1", "RestartPolicy": {"Name": "no"}}
    made = gen([container(), second])
    validate(made.objects)
    names = [c["name"] for c in made.objects[0]["spec"]["containers"]]
    assert names == ["web", "side"]
    side = made.objects[0]["spec"]["containers"][1]
    assert "securityContext" not in side and "livenessProbe" not in side
    assert made.warnings == ["side: user 'nobody' is not numeric: runAsUser left out"]


def test_a_claim_from_a_volume_validates() -> None:
    pvc = generate.claim({"Name": "data", "Driver": "local", "Labels": {"team": "a"}})
    validate([pvc])
    assert pvc["metadata"] == {"name": "data", "labels": {"team": "a"}}


@pytest.mark.parametrize(
    ("text", "value"),
    [("512Mi", 512 << 20), ("1G", 10**9), ("1.5Gi", 3 << 29), ("100", 100), ("1e3", 1000)],
)
def test_memory_quantities(text: str, value: int) -> None:
    assert quantity.memory_bytes(text) == value


def test_quantities_round_trip() -> None:
    for n in (1, 1000, 1 << 20, 3 << 29, 123456789):
        assert quantity.memory_bytes(quantity.format_memory(n)) == n
    for nanos in (250_000_000, 1_000_000_000, 1_500_000_000, 4_000_000_000):
        assert quantity.nano_cpus(quantity.format_cpu(nanos)) == nanos
        assert quantity.cpu_request(quantity.cpu_shares(nanos)) == nanos
    assert (quantity.cpu_shares(0), quantity.cpu_shares(1_000_000), quantity.cpu_shares(10**9)) == (
        0, 2, 1024)  # fmt: skip
    with pytest.raises(quantity.QuantityError):
        quantity.parse("lots")


PLAY = """
apiVersion: v1
kind: ConfigMap
metadata: {name: site}
data: {index.html: hello, MODE: test}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
data: {password: czNjcjN0}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      restartPolicy: Always
      securityContext: {runAsUser: 33}
      volumes:
      - {name: site, configMap: {name: site, items: [{key: index.html, path: www/index.html}]}}
      - {name: scratch, emptyDir: {}}
      - {name: fast, emptyDir: {medium: Memory, sizeLimit: 16Mi}}
      - {name: data, persistentVolumeClaim: {claimName: shopdata}}
      containers:
      - name: web
        image: busybox
        command: [httpd, -f]
        args: [-p, "8080"]
        envFrom: [{configMapRef: {name: site}, prefix: CM_}]
        env:
        - {name: PASSWORD, valueFrom: {secretKeyRef: {name: creds, key: password}}}
        - {name: PLAIN, value: x}
        ports: [{containerPort: 8080}]
        resources: {limits: {memory: 64Mi, cpu: 250m}}
        livenessProbe: {httpGet: {path: /index.html, port: 8080}, periodSeconds: 3}
        securityContext: {capabilities: {drop: [ALL]}}
        volumeMounts:
        - {name: site, mountPath: /www}
        - {name: scratch, mountPath: /tmp/s}
        - {name: fast, mountPath: /fast}
        - {name: data, mountPath: /data, readOnly: true}
---
apiVersion: v1
kind: Service
metadata: {name: shop}
spec:
  type: NodePort
  selector: {app: shop}
  ports: [{port: 80, targetPort: 8080, nodePort: 30080}]
"""


def test_a_manifest_resolves_into_pods() -> None:
    plan = manifest.plan(manifest.load(PLAY))
    assert plan.owners == ["Deployment/shop"]
    assert [p.name for p in plan.pods] == ["shop-pod-0", "shop-pod-1"]
    pod = plan.pods[0]
    assert pod.restart == "always" and pod.labels == {"app": "shop"}
    assert pod.extra_ports == [(8080, "tcp", 30080, "")]  # the Service's nodePort
    site = next(v for v in pod.volumes if v.name == "shop-pod-0-site")
    assert site.files == {"www/index.html": b"hello"}
    assert [v.name for v in pod.volumes if v.claim] == ["shopdata"]
    (web,) = pod.containers
    assert web.command == ["httpd", "-f"] and web.args == ["-p", "8080"]
    assert web.env == ["CM_index.html=hello", "CM_MODE=test", "PASSWORD=s3cr3t", "PLAIN=x"]
    assert web.user == "33" and web.cap_drop == ["ALL"]
    assert (web.memory, web.nano_cpus) == (64 << 20, 250_000_000)
    assert web.healthcheck == {
        "Test": ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/index.html"],
        "Interval": 3_000_000_000, "Timeout": 1_000_000_000, "Retries": 3,
    }  # fmt: skip
    body = container_body(web, pod, "infraid", pod.restart)
    assert body["Entrypoint"] == ["httpd", "-f"] and body["Cmd"] == ["-p", "8080"]
    host = body["HostConfig"]
    assert host["NetworkMode"] == "container:infraid"
    assert host["Binds"] == ["shop-pod-0-site:/www:ro", "shop-pod-0-scratch:/tmp/s",
                             "shopdata:/data:ro"]  # fmt: skip
    assert host["Tmpfs"] == {"/fast": f"size={16 << 20}"}
    assert host["RestartPolicy"] == {"Name": "always"}
    assert body["Labels"]["io.dockyard.kube.owner"] == "Deployment/shop"


@pytest.mark.parametrize(
    ("text", "errors"),
    [
        ("kind: Frobnicator\nmetadata: {name: x}\n",
         ["Frobnicator \"x\": kind: unsupported kind 'Frobnicator' (supported: Pod, Deployment, "
          "ConfigMap, Secret, PersistentVolumeClaim, Service)"]),
        ("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a}]}\n",
         ['Pod "p": spec.containers[0].image: required']),
        ("kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: a, image: b, "
         "command: echo, ports: [{containerPort: '80'}], tty: 1}\n",
         ['Pod "p": spec.containers[0].command: expected array of strings, got string',
          'Pod "p": spec.containers[0].ports[0].containerPort: expected integer, got string',
          'Pod "p": spec.containers[0].tty: expected boolean, got integer']),
        ("kind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n      containers:"
         "\n      - {name: a, image: b, volumeMounts: [{name: nope, mountPath: /x}]}\n",
         ['Deployment "d": spec.template.spec.containers[0].volumeMounts[0].name: volume \'nope\' '
          "not found in the pod's volumes"]),
        ("kind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: b, env: [{name: "
         "X, valueFrom: {configMapKeyRef: {name: cm, key: k}}}]}]\n",
         ['Pod "p": spec.containers[0].env[0].valueFrom.configMapKeyRef: configMap \'cm\' has no '
          "key 'k'"]),
        ("- just\n- a list\n", ["document 0: expected object, got array"]),
        ("kind: Pod\nmetadata: {name: p}\nspec:\n  containers: [5]\n  volumes: [{name: c, "
         "configMap: {name: m, items: [{key: k, path: ../x}]}}]\n---\nkind: ConfigMap\n"
         "metadata: {name: m}\ndata: {k: v}\n",
         ['Pod "p": spec.volumes[0].configMap.items[0].path: must be a relative path without '
          "'..'", 'Pod "p": spec.containers[0]: expected object, got integer']),
        ("kind: Pod\nspec: {}\n", ["document 0: metadata: required",
                                   "document 0: spec.containers: required"]),
    ],
)  # fmt: skip
def test_bad_manifests_name_the_path(text: str, errors: list[str]) -> None:
    with pytest.raises(manifest.ManifestError) as info:
        manifest.plan(manifest.load(text))
    assert info.value.errors == errors


def test_generated_yaml_plays_back_the_same_container() -> None:
    """generate -> YAML -> plan -> create body carries what the container had."""
    made = gen([container()])
    text = yaml.safe_dump_all(made.objects, sort_keys=False)
    plan = manifest.plan(manifest.load(text))
    (pod,) = plan.pods
    body = container_body(pod.containers[0], pod, "infra", pod.restart)
    original = container()
    assert body["Image"] == "busybox"
    assert body["Cmd"] == original["Config"]["Cmd"] and "Entrypoint" not in body
    assert body["Env"] == ["GREETING=hello world"]
    assert body["WorkingDir"] == "/srv" and body["User"] == "1000:2000"
    host = body["HostConfig"]
    assert host["CpuShares"] == 512
    assert (host["Memory"], host["NanoCpus"], host["MemoryReservation"]) == (
        128 << 20, 1_500_000_000, 64 << 20)  # fmt: skip
    assert host["RestartPolicy"] == {"Name": "on-failure"}
    assert host["Binds"] == ["data:/data", "/srv/site:/www:ro"]
    assert host["Tmpfs"] == {"/cache": f"size={64 << 20}"}
    assert (host["CapAdd"], host["CapDrop"], host["ReadonlyRootfs"]) == (
        ["NET_ADMIN"], ["MKNOD"], True)  # fmt: skip
    assert body["Healthcheck"]["Test"] == ["CMD-SHELL", "wget -q -O- http://127.0.0.1:8080/"]
    assert sorted(pod.containers[0].ports) == [
        (53, "udp", 0, ""),
        (8080, "tcp", 18080, "127.0.0.1"),
    ]


def test_a_generated_service_publishes_its_node_port_when_played() -> None:
    doc = container()
    doc["HostConfig"]["PortBindings"]["8080/tcp"][0]["HostPort"] = "30080"
    made = gen([doc], service=True)
    plan = manifest.plan(manifest.load(yaml.safe_dump_all(made.objects, sort_keys=False)))
    (pod,) = plan.pods
    assert pod.extra_ports == [(8080, "tcp", 30080, "")]
    assert all(host == 0 for _, _, host, _ in pod.containers[0].ports)


def test_a_volume_name_kubernetes_refuses_is_renamed_and_played_back_by_its_own_name() -> None:
    doc = container(Mounts=[{"Type": "volume", "Name": "shop_Data", "Destination": "/d",
                             "RW": True}])  # fmt: skip
    made = gen([doc])
    pvc = generate.claim({"Name": "shop_Data"})
    validate([pvc, *made.objects])
    assert pvc["metadata"] == {"name": "shop-data",
                               "annotations": {"volume.dockyard.io/name": "shop_Data"}}  # fmt: skip
    claims = [v["persistentVolumeClaim"] for v in made.objects[0]["spec"]["volumes"]
              if "persistentVolumeClaim" in v]  # fmt: skip
    assert claims == [{"claimName": "shop-data"}]
    plan = manifest.plan(manifest.load(yaml.safe_dump_all([*made.objects, pvc])))
    assert [v.name for v in plan.claims] == ["shop_Data"]
    assert [m.source for m in plan.pods[0].containers[0].mounts if m.kind == "volume"] == [
        "shop_Data"]  # fmt: skip


def test_a_hostname_the_user_set_and_an_image_given_by_id() -> None:
    doc = container()
    doc["Config"].update(Hostname="Web.Host", Image="sha256:img")
    image = {**IMAGE, "RepoTags": ["busybox:latest"]}
    made = generate.pod_objects("p", [doc], {"sha256:img": image}, generate.Options(),
                                lambda p: "")  # fmt: skip
    validate(made.objects)
    spec = made.objects[0]["spec"]
    assert spec["hostname"] == "web-host"
    assert spec["containers"][0]["image"] == "busybox:latest"
    plan = manifest.plan(manifest.load(yaml.safe_dump_all(made.objects)))
    assert plan.pods[0].hostname == "web-host"
    doc["Config"].update(Hostname="c1"[:12], Image="busybox")  # the default: the short ID
    spec = gen([doc]).objects[0]["spec"]
    assert "hostname" not in spec and spec["containers"][0]["image"] == "busybox"


def test_dns_settings_and_extra_hosts_are_the_pods() -> None:
    doc = container()
    doc["HostConfig"].update(Dns=["10.0.0.2"], DnsSearch=["example.test"],
                             DnsOptions=["ndots:2", "rotate"],
                             ExtraHosts=["db:10.0.0.5", "cache:10.0.0.5", "api:10.0.0.6"])  # fmt: skip
    made = gen([doc])
    validate(made.objects)
    spec = made.objects[0]["spec"]
    assert spec["dnsConfig"] == {"nameservers": ["10.0.0.2"], "searches": ["example.test"],
                                 "options": [{"name": "ndots", "value": "2"},
                                             {"name": "rotate"}]}  # fmt: skip
    assert spec["hostAliases"] == [{"ip": "10.0.0.5", "hostnames": ["db", "cache"]},
                                   {"ip": "10.0.0.6", "hostnames": ["api"]}]  # fmt: skip
    (pod,) = manifest.plan(manifest.load(yaml.safe_dump_all(made.objects))).pods
    assert pod.dns == {"Dns": ["10.0.0.2"], "DnsSearch": ["example.test"],
                       "DnsOptions": ["ndots:2", "rotate"]}  # fmt: skip
    assert pod.extra_hosts == ["db:10.0.0.5", "cache:10.0.0.5", "api:10.0.0.6"]
