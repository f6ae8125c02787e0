"""A compose project to Kubernetes (#19 item 3, E7 with E6): Debian's docker-compose 1.29.2
brings a small project up on dockyard, `dockyard kube generate --compose` turns it into one
manifest that Kubernetes' schemas accept, a Deployment per service with the service's scale,
and that manifest plays back here."""

from __future__ import annotations

import copy
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.conftest import Daemon

pytestmark = [pytest.mark.compat, pytest.mark.integration]

COMPOSE = os.environ.get("COMPOSE_V1", "/usr/bin/docker-compose")
PROJECT_FILE = """
version: "3.7"
services:
  web:
    image: busybox
    command: ["httpd", "-f", "-p", "8080"]
    environment: {ROLE: web}
    ports: ["127.0.0.1::8080"]
    volumes: ["data:/data"]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]
      interval: 3s
      retries: 2
    mem_limit: 64m
  worker:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
    environment: {ROLE: worker}
    restart: always
volumes:
  data: {}
"""


def compose(d: Daemon, cwd: Path, project: str, *args: str) -> str:
    r = subprocess.run([COMPOSE, "-p", project, *args], cwd=cwd, env=d.env(),
                       capture_output=True, text=True, timeout=180)  # fmt: skip
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


@pytest.fixture
def project(daemon: Daemon, tmp_path: Path) -> Iterator[str]:
    name = f"kc{secrets.token_hex(3)}"
    (tmp_path / "docker-compose.yml").write_text(PROJECT_FILE)
    compose(daemon, tmp_path, name, "up", "-d", "--scale", "worker=2")
    try:
        yield name
    finally:
        compose(daemon, tmp_path, name, "down", "-v")


def by_name(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}


def test_a_compose_project_becomes_one_manifest_that_plays(
    daemon: Daemon, project: str, tmp_path: Path
) -> None:
    r = daemon.dockyard("kube", "generate", "--compose", project, "--type", "deployment")
    assert r.returncode == 0, r.stderr
    docs = [d for d in yaml.safe_load_all(r.stdout) if d]
    for doc in docs:
        kubernetes_validate.validate(copy.deepcopy(doc), kubernetes_validate.latest_version(),
                                     strict=True)  # fmt: skip
    objects = by_name(docs)
    assert sorted(objects) == [f"Deployment/{project}-web-deployment",
                               f"Deployment/{project}-worker-deployment",
                               f"PersistentVolumeClaim/{project}-data"]  # fmt: skip
    # a Docker volume name Kubernetes does not take is renamed, the name kept for `kube play`
    pvc = objects[f"PersistentVolumeClaim/{project}-data"]["metadata"]
    assert pvc["annotations"] == {"volume.dockyard.io/name": f"{project}_data"}
    web = objects[f"Deployment/{project}-web-deployment"]["spec"]
    worker = objects[f"Deployment/{project}-worker-deployment"]["spec"]
    assert (web["replicas"], worker["replicas"]) == (1, 2)
    labels = web["template"]["metadata"]["labels"]
    assert labels["com.docker.compose.project"] == project
    assert labels["com.docker.compose.service"] == "web"
    (c,) = web["template"]["spec"]["containers"]
    assert c["name"] == "web"  # the service, not the compose container's name
    assert c["args"] == ["httpd", "-f", "-p", "8080"]
    assert {"name": "ROLE", "value": "web"} in c["env"]
    assert c["resources"]["limits"]["memory"] == "64Mi"
    assert c["livenessProbe"]["periodSeconds"] == 3 and c["livenessProbe"]["failureThreshold"] == 2
    assert c["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]  # an ephemeral host port
    claim = web["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"]
    assert claim == f"{project}-data"
    # the manifest plays back here (the worker's two replicas included) on the project's volume
    path = tmp_path / "project.yaml"
    path.write_text(r.stdout)
    played = daemon.dockyard("kube", "play", str(path))
    try:
        assert played.returncode == 0, played.stderr
        for name in (f"{project}-web-deployment-pod-web",
                     f"{project}-worker-deployment-pod-0-worker",
                     f"{project}-worker-deployment-pod-1-worker"):  # fmt: skip
            status, doc = daemon.api("GET", f"/containers/{name}/json")
            assert status == 200 and doc["State"]["Running"], (name, doc)
        status, doc = daemon.api("GET", f"/containers/{project}-web-deployment-pod-web/json")
        assert [m["Name"] for m in doc["Mounts"]] == [f"{project}_data"]
    finally:
        down = daemon.dockyard("kube", "down", str(path))
        assert down.returncode == 0, down.stderr
