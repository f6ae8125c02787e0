"""What the typed API input (#17 item 4) costs: the body check alone, and container create and
`run --rm` with it, against a daemon from another source tree (the code before it), interleaved.

    .venv/bin/python bench/input.py [--rounds 30] [--base SRC_DIR]

`--base` names a `src/` directory holding the earlier dockyard (e.g. made by
`git archive <commit> src | tar -x -C /tmp/base`); its daemon runs beside this tree's, each with
its own data root, socket, bridge and cgroup parent, and every case alternates between them.
Without it only this tree is measured. Not a test: numbers go to the issue notes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from engine import DOCKER, BenchDaemon, sh, timed  # noqa: E402
from tests.conftest import teardown_host_state  # noqa: E402
from tests.integration.apiwire import call  # noqa: E402

# the body the docker CLI sends for `docker create -e A=1 -p 80 -m 64m busybox true`: nearly
# every field, many null (D-compose-2)
CLI_BODY = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": True,
    "AttachStderr": True, "ExposedPorts": {"80/tcp": {}}, "Tty": False, "OpenStdin": False,
    "StdinOnce": False, "Env": ["A=1"], "Cmd": ["true"], "Image": "busybox", "Volumes": {},
    "WorkingDir": "", "Entrypoint": None, "OnBuild": None, "Labels": {},
    "HostConfig": {
        "Binds": None, "ContainerIDFile": "", "LogConfig": {"Type": "", "Config": {}},
        "NetworkMode": "none", "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": ""}]},
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}, "AutoRemove": False,
        "VolumeDriver": "", "VolumesFrom": None, "ConsoleSize": [0, 0], "CapAdd": None,
        "CapDrop": None, "CgroupnsMode": "", "Dns": [], "DnsOptions": [], "DnsSearch": [],
        "ExtraHosts": None, "GroupAdd": None, "IpcMode": "", "Cgroup": "", "Links": None,
        "OomScoreAdj": 0, "PidMode": "", "Privileged": False, "PublishAllPorts": False,
        "ReadonlyRootfs": False, "SecurityOpt": None, "UTSMode": "", "UsernsMode": "",
        "ShmSize": 0, "Isolation": "", "CpuShares": 0, "Memory": 67108864, "NanoCpus": 0,
        "CgroupParent": "", "BlkioWeight": 0, "BlkioWeightDevice": [], "BlkioDeviceReadBps": [],
        "BlkioDeviceWriteBps": [], "BlkioDeviceReadIOps": [], "BlkioDeviceWriteIOps": [],
        "CpuPeriod": 0, "CpuQuota": 0, "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0,
        "CpusetCpus": "", "CpusetMems": "", "Devices": [], "DeviceCgroupRules": None,
        "DeviceRequests": None, "MemoryReservation": 0, "MemorySwap": 0,
        "MemorySwappiness": None, "OomKillDisable": False, "PidsLimit": None, "Ulimits": None,
        "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
        "MaskedPaths": None, "ReadonlyPaths": None,
    },
    "NetworkingConfig": {"EndpointsConfig": {"none": {}}},
}  # fmt: skip
RAW = json.dumps(CLI_BODY).encode()


def micro() -> dict[str, float]:
    """Microseconds per body: the decode before (json.loads and a type test) and now."""
    from dockyard.api import models
    from dockyard.api.gojson import decode

    def before() -> None:
        body = json.loads(RAW)
        assert isinstance(body, dict)

    n = 20000
    out = {}
    for name, fn in (("json.loads (before)", before),
                     ("gojson.decode: msgspec + normalize + check", lambda: decode(RAW, models.ContainerConfig))):  # fmt: skip
        out[name] = min(timeit.repeat(fn, number=n, repeat=5)) / n * 1e6
    return out


def start(tag: str, src: str | None) -> BenchDaemon:
    tmp = Path(tempfile.mkdtemp(prefix=f"dockyard-bench-{tag}-", dir="/var/tmp"))
    d = BenchDaemon(tmp, tmp / "data", tmp / "exec", tmp / "dy.sock", f"dockyard-bench-{tag}",
                    bridge=f"dyb{tag}{os.getpid() % 10000}")  # fmt: skip
    saved = os.environ.get("PYTHONPATH")
    if src:
        os.environ["PYTHONPATH"] = src  # before the editable install's path
    try:
        d.start()
    finally:
        if src:
            if saved is None:
                os.environ.pop("PYTHONPATH")
            else:
                os.environ["PYTHONPATH"] = saved
    d.api("POST", "/dockyard/images/bootstrap")
    return d


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--base", help="src/ of the dockyard to compare with")
    args = ap.parse_args()
    for name, us in micro().items():
        print(f"{name:48} {us:8.1f} us per create body ({len(RAW)} bytes)")
    daemons = {"now": start("n", None)}
    if args.base:
        daemons["before"] = start("b", args.base)
    results: dict[str, dict[str, list[float]]] = {}
    try:
        for _ in range(args.rounds):
            for label, d in daemons.items():
                t0 = time.perf_counter()
                status, body = call(d.socket, "POST", "/v1.41/containers/create", RAW)
                results.setdefault("POST /containers/create (CLI body)", {}).setdefault(label, []).append(time.perf_counter() - t0)  # fmt: skip
                assert status == 201, body
                call(d.socket, "DELETE", f"/v1.41/containers/{body['Id']}", headers={})
                env = d.env()
                took = timed(lambda env=env: sh(env, DOCKER, "run", "--rm", "--network", "none", "busybox", "true"))  # fmt: skip
                results.setdefault("docker run --rm busybox true", {}).setdefault(label, []).append(took)  # fmt: skip
    finally:
        for d in daemons.values():
            d.api("POST", "/containers/prune")
            d.stop()
            teardown_host_state(d)
            shutil.rmtree(d.root, ignore_errors=True)
    print(f"{'case':40} " + " ".join(f"{k:>10}" for k in daemons) + "   (medians, ms)")
    for case, per in results.items():
        meds = [statistics.median(per[k]) * 1000 for k in daemons]
        print(f"{case:40} " + " ".join(f"{m:10.2f}" for m in meds))


if __name__ == "__main__":
    main()
