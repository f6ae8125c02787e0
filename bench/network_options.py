"""Bridge driver options (issue 5 item 1, MISSION N5): what applying them costs, dockyard vs a
real dockerd, interleaved in one run, each engine in its own network namespace
(bench/network.py's engines()).

    .venv/bin/python bench/network_options.py [--rounds N]

Cases (seconds, medians; ratios dockyard / dockerd, lower is better):
  run --rm plain s      `docker run --rm --network plain busybox true`
  run --rm opts s       the same on a network with mtu=9000, enable_icc=false,
                        enable_ip_masquerade=false, container_iface_prefix=foo
  connect+disc opts s   `network connect` + `network disconnect` of a running container
                        to/from the options network
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from bench.network import engines, summarize  # noqa: E402

P = "com.docker.network."
OPTS = ["driver.mtu=9000", "bridge.enable_icc=false", "bridge.enable_ip_masquerade=false",
        "container_iface_prefix=foo"]  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="dockyard-bench-opts-", dir="/var/tmp"))
    results: dict[str, dict[str, list[float]]] = {}
    try:
        with engines(base) as (dk, dy):
            for e in (dk, dy):
                e.docker("network", "create", "--subnet", "10.124.1.0/24", "plain")
                e.docker("network", "create", "--subnet", "10.124.2.0/24",
                         *(a for o in OPTS for a in ("-o", P + o)), "opts")  # fmt: skip
                e.docker("run", "-d", "--name", "idle", "--network", "plain", "busybox",
                         "sleep", "3600")  # fmt: skip
                e.docker("run", "--rm", "--network", "opts", "busybox", "true")  # warm up
            for _ in range(args.rounds):
                for e in (dk, dy):
                    res = results.setdefault(e.name, {})
                    res.setdefault("run --rm plain s", []).append(
                        e.timed("run", "--rm", "--network", "plain", "busybox", "true"))  # fmt: skip
                    res.setdefault("run --rm opts s", []).append(
                        e.timed("run", "--rm", "--network", "opts", "busybox", "true"))  # fmt: skip
                    res.setdefault("connect+disc opts s", []).append(
                        e.timed("network", "connect", "opts", "idle")
                        + e.timed("network", "disconnect", "opts", "idle"))  # fmt: skip
            for e in (dk, dy):
                e.docker("rm", "-f", "idle", check=False)
                e.docker("network", "rm", "plain", "opts", check=False)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    summary = summarize(results)
    out = ROOT / "bench" / "results" / "network_options.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
