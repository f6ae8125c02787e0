"""A realistic compose project (#15 item 9, E6 with N1/N5/S8): tests/compose/shop driven by
Debian's docker-compose 1.29.2 through up -d, ps, port, logs, exec (-T and with a TTY), restart,
stop/start, up --scale and down -v; first for what a user sees on dockyard, then the same
walkthrough on a real dockerd (the oracle) with the outcomes compared."""

from __future__ import annotations

import json
import os
import pty
import random
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import Daemon, UnixHTTPConnection, until

pytestmark = [pytest.mark.compat, pytest.mark.integration]

COMPOSE = os.environ.get("COMPOSE_V1", "/usr/bin/docker-compose")
SHOP = Path(__file__).resolve().parent.parent / "compose" / "shop"


@dataclass
class Engine:
    """One Docker-API daemon with a compose project on it."""

    sock: str
    project: str
    subnet: str = ""

    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": f"unix://{self.sock}", "SHOP_SUBNET": self.subnet}

    def compose(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run([COMPOSE, "-p", self.project, *args], cwd=SHOP, env=self.env(),
                              capture_output=True, text=True, timeout=timeout)  # fmt: skip

    def ok(self, *args: str) -> str:
        r = self.compose(*args)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r.stdout

    def api(self, path: str) -> Any:
        conn = UnixHTTPConnection(self.sock)
        conn.request("GET", f"/v1.41{path}")
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        return json.loads(body) if resp.status == 200 else None

    def events(self, since: str, label: str) -> list[dict[str, Any]]:
        """The container events since `since` until now, in order."""
        filters = quote(json.dumps({"type": ["container"], "label": [label]}))
        conn = UnixHTTPConnection(self.sock)
        conn.request(
            "GET", f"/v1.41/events?since={since}&until={time.time():.3f}&filters={filters}"
        )
        body = conn.getresponse().read().decode()
        conn.close()
        return [json.loads(line) for line in body.splitlines() if line.strip()]

    def inspect(self, service: str, n: int = 1) -> dict[str, Any]:
        doc = self.api(f"/containers/{self.project}_{service}_{n}/json")
        assert doc is not None, (service, n)
        return dict(doc)

    def tty_exec(self, *args: str) -> tuple[int, str]:
        """`docker-compose exec` without -T needs a terminal: run it on a pty."""
        master, slave = pty.openpty()
        proc = subprocess.Popen([COMPOSE, "-p", self.project, "exec", *args], cwd=SHOP,
                                env=self.env(), stdin=slave, stdout=slave, stderr=slave)  # fmt: skip
        os.close(slave)
        out = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: every writer closed
                break
            if not chunk:
                break
            out += chunk
        os.close(master)
        return proc.wait(timeout=60), out.decode(errors="replace")


def _subnet() -> str:
    return f"10.{random.randint(100, 250)}.{random.randint(0, 255)}.0/24"


def _up(e: Engine) -> subprocess.CompletedProcess[str]:
    """`up -d` on a free subnet: another test's network may hold the one tried first."""
    for _ in range(10):
        e.subnet = _subnet()
        r = e.compose("up", "-d")
        if r.returncode == 0 or "overlap" not in r.stderr:
            return r
        e.compose("down", "-v")
    return r


def _http(e: Engine, path: str) -> str:
    hostport = e.ok("port", "web", "80").strip()
    assert hostport.startswith("127.0.0.1:"), hostport
    with urllib.request.urlopen(f"http://{hostport}{path}", timeout=10) as resp:
        return str(resp.read().decode())


def _healthy(e: Engine) -> bool:
    return bool(e.inspect("web")["State"].get("Health", {}).get("Status") == "healthy")


def _ps(e: Engine) -> list[list[str]]:
    """`docker-compose ps` rows split into columns, the ephemeral host port masked."""
    out = e.ok("ps")
    rows = [re.split(r"\s{2,}", ln.strip()) for ln in out.splitlines()[2:] if ln.strip()]
    return [[re.sub(r"127\.0\.0\.1:\d+->", "127.0.0.1:PORT->", c) for c in row] for row in rows]


def _lookup(e: Engine, service: str, name: str, index: int = 1) -> list[str]:
    r = e.compose("exec", "-T", "--index", str(index), service, "nslookup", name)
    assert r.returncode == 0, (name, r.stdout, r.stderr)
    return sorted(re.findall(r"Address: (\d+\.\d+\.\d+\.\d+)", r.stdout))


def _ip(doc: dict[str, Any], project: str) -> str:
    return str(doc["NetworkSettings"]["Networks"][f"{project}_shopnet"]["IPAddress"])


def _logs(e: Engine, service: str) -> list[str]:
    """A service's log lines without the per-run parts (hostnames, addresses, ports)."""
    out = e.ok("logs", "--no-color", service)
    lines = []
    for ln in out.splitlines()[1:]:  # after "Attaching to ..."
        if service == "worker" and "| worker " not in ln:
            continue  # wget's complaints while web restarts: timing, not behaviour
        ln = re.sub(r"\b[0-9a-f]{12}\b", "HOST", ln)
        ln = re.sub(r"\[[^\]]*\]:\d+", "PEER", ln)
        lines.append(re.sub(r"\s+\|", " |", ln))
    return sorted(lines)


def _shape(doc: Any, ids: dict[str, str]) -> set[str]:
    """Key paths of an inspect document; container ids as keys become their names."""
    out: set[str] = set()

    def walk(o: Any, pre: str) -> None:
        if isinstance(o, dict):
            for k, v in o.items():
                path = f"{pre}/{ids.get(k, k)}"
                out.add(path)
                walk(v, path)
        elif isinstance(o, list) and o:
            walk(o[0], pre + "[]")

    walk(doc, "")
    return out


def walkthrough(e: Engine) -> dict[str, Any]:
    """The project's whole life on one engine; returns what a user saw, for comparison."""
    p = e.project
    seen: dict[str, Any] = {}
    since = f"{time.time() - 1:.0f}"
    r = _up(e)
    assert r.returncode == 0, r.stderr
    seen["ps_up"] = _ps(e)
    web, w1, w2, data = (e.inspect("web"), e.inspect("worker", 1), e.inspect("worker", 2),
                         e.inspect("data"))  # fmt: skip
    # depends_on: service_healthy: the workers started once web had been reported healthy
    order = [(ev["Actor"]["Attributes"]["name"].removeprefix(f"{p}_"), ev["Action"])
             for ev in e.events(since, f"com.docker.compose.project={p}")]  # fmt: skip
    healthy = order.index(("web_1", "health_status: healthy"))
    seen["workers_after_healthy"] = [
        order.index((f"worker_{n}", "start")) > healthy > order.index(("web_1", "start"))
        for n in (1, 2)
    ]
    seen["web_health"] = web["State"]["Health"]["Status"]
    seen["index"] = _http(e, "/")
    seen["stock"] = _http(e, "/cgi-bin/stock")
    env = e.ok("exec", "-T", "web", "env").splitlines()
    seen["env_file"] = sorted(x for x in env if x.startswith("SHOP_"))
    # DNS between services: service names (all replicas), aliases and container names
    seen["dns_worker"] = _lookup(e, "web", "worker") == sorted([_ip(w1, p), _ip(w2, p)])
    seen["dns_store"] = _lookup(e, "worker", "store") == [_ip(data, p)]
    seen["dns_names"] = [
        _lookup(e, "worker", f"{p}_worker_2", 1) == [_ip(w2, p)],
        _lookup(e, "worker", f"{p}_worker_1", 2) == [_ip(w1, p)],
        _lookup(e, "data", f"{p}_web_1") == [_ip(web, p)],
    ]
    seen["top_rc"] = e.compose("top").returncode
    # sorted: both engines list in host PID order, which flips when the host's PIDs wrap
    # (pid_max 32768 here) between the init and its child
    seen["top_data"] = sorted(row[-1] for row in e.api(f"/containers/{p}_data_1/top")["Processes"])
    r = e.compose("exec", "-T", "worker", "nslookup", "web")
    seen["nslookup_header"] = [ln for ln in r.stdout.splitlines() if "answer" in ln]
    seen["replicas"] = [
        len({w1["Id"], w2["Id"]}),
        len({_ip(w1, p), _ip(w2, p)}),
        len({e.ok("exec", "-T", "--index", str(i), "worker", "hostname").strip()
             for i in (1, 2)}),
    ]  # fmt: skip
    r = e.compose("exec", "-T", "web", "sh", "-c", "echo to-stderr >&2; exit 4")
    seen["exec_T"] = (r.returncode, r.stdout, r.stderr)
    seen["exec_tty"] = e.tty_exec("web", "sh", "-c", 'tty; echo "$SHOP_NAME"; exit 3')
    # the stock lives on the named volume: a change survives restart, stop/start
    e.ok("exec", "-T", "data", "sh", "-c", "echo 'pears 3' > /data/stock")
    r = e.compose("restart")
    seen["restart_rc"] = r.returncode
    assert until(lambda: _healthy(e), 10), "web not healthy after restart"
    seen["ps_restarted"] = _ps(e)
    seen["stock_restarted"] = _http(e, "/cgi-bin/stock")
    r = e.compose("stop")
    seen["stop_rc"] = r.returncode
    seen["ps_stopped"] = _ps(e)
    seen["start_rc"] = e.compose("start").returncode
    assert until(lambda: _healthy(e), 10), "web not healthy after start"
    seen["ps_started"] = _ps(e)
    seen["boots"] = e.ok("exec", "-T", "data", "wc", "-l", "/data/boots").split()[0]
    seen["stock_started"] = _http(e, "/cgi-bin/stock")
    seen["scale_rc"] = e.compose("up", "-d", "--scale", "worker=3").returncode
    seen["ps_scaled"] = _ps(e)
    w3 = e.inspect("worker", 3)
    seen["dns_scaled"] = _lookup(e, "web", "worker") == sorted([_ip(w1, p), _ip(w2, p), _ip(w3, p)])
    seen["logs_data"] = _logs(e, "data")
    seen["logs_worker"] = _logs(e, "worker")
    ids = {d["Id"]: f"{p}_{s}" for d, s in ((web, "web"), (w1, "w1"), (w2, "w2"), (data, "data"),
                                           (w3, "w3"))}  # fmt: skip
    seen["shapes"] = {
        "web": _shape(e.inspect("web"), ids),
        "worker": _shape(e.inspect("worker", 2), ids),
        "data": _shape(e.inspect("data"), ids),
        "network": _shape(e.api(f"/networks/{p}_shopnet"), ids),
        "volume": _shape(e.api(f"/volumes/{p}_stock"), ids),
        "image": _shape(e.api(f"/images/{p}_web/json"), ids),
    }
    seen["ipam"] = sorted(e.api(f"/networks/{p}_shopnet")["IPAM"]["Config"][0])
    r = e.compose("down", "-v")
    seen["down"] = (r.returncode, sorted(ln for ln in r.stderr.splitlines() if "..." not in ln))
    label = f"com.docker.compose.project={p}"
    seen["left"] = [
        e.api(f"/containers/json?all=1&filters={quote(json.dumps({'label': [label]}))}"),
        [n["Name"] for n in e.api("/networks") if n["Name"].startswith(p)],
        [v["Name"] for v in e.api("/volumes")["Volumes"] or [] if v["Name"].startswith(p)],
    ]
    return seen


def _cleanup(e: Engine) -> None:
    e.compose("down", "-v")
    subprocess.run(["docker", "rmi", f"{e.project}_web"], env=e.env(), capture_output=True)


@pytest.fixture(scope="module")
def on_dockyard(daemon: Daemon) -> Iterator[dict[str, Any]]:
    assert Path(COMPOSE).exists(), f"{COMPOSE} is missing: scripts/install installs it"
    e = Engine(str(daemon.socket), f"shop{random.randint(0, 1 << 30)}")
    try:
        yield walkthrough(e)
    finally:
        _cleanup(e)


def test_shop_on_dockyard(on_dockyard: dict[str, Any]) -> None:
    """What a user of the shop sees on dockyard."""
    seen = on_dockyard
    states = {row[0].split("_", 1)[1]: row[2] for row in seen["ps_up"]}
    assert states == {"data_1": "Up", "web_1": "Up (healthy)", "worker_1": "Up",
                      "worker_2": "Up"}, seen["ps_up"]  # fmt: skip
    assert [row[3] for row in seen["ps_up"] if "_web_" in row[0]] == ["127.0.0.1:PORT->80/tcp"]
    assert seen["workers_after_healthy"] == [True, True] and seen["web_health"] == "healthy"
    assert seen["index"] == "<h1>shop</h1>\n"
    assert seen["stock"] == "shop: Corner Shop (EUR)\napples 12\n"
    assert seen["env_file"] == ["SHOP_CURRENCY=EUR", "SHOP_NAME=Corner Shop"]
    assert seen["dns_worker"] and seen["dns_store"] and seen["dns_names"] == [True] * 3
    assert seen["nslookup_header"] == ["Non-authoritative answer:"] * 2
    assert seen["replicas"] == [2, 2, 2]
    init, httpd = seen["top_data"]
    assert seen["top_rc"] == 0 and httpd == "httpd -f -p 8080 -h /data"
    assert init.startswith("/sbin/docker-init -- sh -c echo ") and init.endswith(" -h /data")
    assert "  " not in init
    assert seen["exec_T"] == (4, "", "to-stderr\n")
    rc, out = seen["exec_tty"]
    assert rc == 3 and re.search(r"^/dev/pts/\d+\r\nCorner Shop\r\n$", out.replace("\0", "")), out
    assert seen["restart_rc"] == seen["stop_rc"] == seen["start_rc"] == seen["scale_rc"] == 0
    assert [r[2] for r in seen["ps_restarted"]] == [r[2] for r in seen["ps_up"]]
    assert [r[2] for r in seen["ps_stopped"]] == ["Exit 143", "Exit 143", "Exit 0", "Exit 0"]
    assert [r[2] for r in seen["ps_started"]] == [r[2] for r in seen["ps_up"]]
    assert seen["stock_restarted"] == seen["stock_started"] == "shop: Corner Shop (EUR)\npears 3\n"
    assert seen["boots"] == "3"
    assert [r[2] for r in seen["ps_scaled"]] == [*[r[2] for r in seen["ps_up"]], "Up"]
    assert seen["dns_scaled"]
    assert seen["logs_data"] == [f"data_1 | data: {n} boot(s), serving /data" for n in (1, 2, 3)]
    ready = "worker_{} | worker HOST ready for Corner Shop"
    assert set(seen["logs_worker"]) >= {ready.format(1), ready.format(2), ready.format(3)}
    assert "worker_1 | worker HOST done" in seen["logs_worker"]
    assert seen["ipam"] == ["Subnet"]  # as given: no gateway was asked for
    assert seen["down"][0] == 0 and seen["left"] == [[], [], []]


def test_shop_same_as_dockerd(on_dockyard: dict[str, Any], oracle: str) -> None:
    """Differential: the same walkthrough on dockerd 20.10 sees the same; dockyard's inspect
    carries every key dockerd's does, plus only DNSNames (a field newer dockerds show)."""
    e = Engine(oracle, f"shop{random.randint(0, 1 << 30)}")
    try:
        want = walkthrough(e)
    finally:
        _cleanup(e)
    got = dict(on_dockyard)
    pname = lambda rows: [[re.sub(r"^shop\d+_", "P_", c) for c in r] for r in rows]  # noqa: E731
    for key in [k for k in want if k.startswith("ps_")]:
        want[key], got[key] = pname(want[key]), pname(got[key])
    shapes, want_shapes = got.pop("shapes"), want.pop("shapes")
    for what, keys in want_shapes.items():
        norm = lambda ks: {re.sub(r"shop\d+_", "P_", k) for k in ks}  # noqa: E731
        mine, theirs = norm(shapes[what]), norm(keys)
        assert theirs - mine == set(), what
        assert {k.rsplit("/", 1)[1] for k in mine - theirs} <= {"DNSNames"}, what
    got["down"] = (got["down"][0], [re.sub(r"shop\d+", "P", x) for x in got["down"][1]])
    want["down"] = (want["down"][0], [re.sub(r"shop\d+", "P", x) for x in want["down"][1]])
    assert got == want
