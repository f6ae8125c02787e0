"""#18 item 4 and 5 (B1): the dashboard, on the real kernel and in a real browser.

`dockyard dashboard` starts the daemon's dashboard on 127.0.0.1 and prints its URL with the
token; asked again it prints the same URL. The listener is bound to 127.0.0.1 only; a request
without the token, with a wrong one of the same length, or naming another Host is a 403; the
API behind it is read-only (a POST is a 405 and creates nothing; logs, archives and attach are
not there). The page, loaded in headless chromium (Debian's, through chromedriver), lists the
containers the test started with their ports, marks one stopped without a reload (the event
stream), draws the network as an SVG naming the containers, draws busybox's layer stack with
one writable layer per container, and shows a container's overlay directories from inspect;
a screenshot is kept under pytest's tmp dir. No chromium process outlives the test."""

from __future__ import annotations

import base64
import http.client
import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import browser
from tests.conftest import Daemon
from tests.integration.network_helpers import rm

pytestmark = pytest.mark.integration


def get(
    url: str, path: str = "", method: str = "GET", host: str | None = None
) -> tuple[int, bytes]:
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname or "", u.port, timeout=30)
    headers = {"Host": host} if host else {}
    conn.request(method, u.path + path, headers=headers)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, body


@pytest.fixture(scope="module")
def dash(daemon: Daemon) -> dict[str, Any]:
    r = daemon.dockyard("dashboard", "--format", "json")
    assert r.returncode == 0, r.stderr
    return dict(json.loads(r.stdout))


def test_cli_prints_the_same_url_each_time(daemon: Daemon, dash: dict[str, Any]) -> None:
    r = daemon.dockyard("dashboard")
    assert r.returncode == 0, r.stderr
    assert r.stdout == dash["URL"] + "\n"
    assert dash["URL"] == f"http://127.0.0.1:{dash['Port']}/{dash['Token']}/"
    assert len(dash["Token"]) >= 32
    status, body = daemon.api("GET", "/dockyard/dashboard")
    assert status == 200 and body == dash
    # another port while it runs is refused and changes nothing
    r = daemon.dockyard("dashboard", "-p", str(browser.closed_port()))
    assert r.returncode == 1
    assert r.stderr == (
        f"Error response from daemon: the dashboard already listens on 127.0.0.1:{dash['Port']}\n"
    )
    r = daemon.dockyard("dashboard", "-p", "x")
    assert r.returncode == 125 and 'invalid argument "x" for "-p, --port" flag' in r.stderr
    assert daemon.api("GET", "/dockyard/dashboard") == (200, dash)


def test_listens_on_loopback_only(dash: dict[str, Any]) -> None:
    port = dash["Port"]
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                listening.append(local.rsplit(":", 1)[0])
    assert listening == ["0100007F"], listening  # 127.0.0.1, and no other address or family


def test_token_is_required(dash: dict[str, Any]) -> None:
    url, token = dash["URL"], dash["Token"]
    base = url[: -len(token) - 1]
    assert get(url)[0] == 200
    assert get(base)[0] == 403
    assert get(base, "api/containers/json")[0] == 403
    wrong = ("A" if token[0] != "A" else "B") + token[1:]
    assert get(base + wrong + "/")[0] == 403
    assert get(base + wrong + "/", "api/containers/json")[0] == 403
    assert get(base + token)[0] == 301  # the page's own relative URLs need the slash
    # a page of another origin that resolves its name to 127.0.0.1 (DNS rebinding)
    assert get(url, host=f"evil.example:{dash['Port']}")[0] == 403
    status, body = get(url)
    assert b"<title>dockyard dashboard</title>" in body


def test_api_behind_it_is_read_only(daemon: Daemon, dash: dict[str, Any]) -> None:
    url = dash["URL"]
    status, body = get(url, "api/containers/json?all=1")
    assert status == 200
    assert {c["Id"] for c in json.loads(body)} == {
        c["Id"] for c in daemon.api("GET", "/containers/json?all=1")[1]
    }
    before = daemon.api("GET", "/containers/json?all=1")[1]
    status, body = get(url, "api/containers/create", method="POST")
    assert status == 405 and json.loads(body) == {"message": "the dashboard's API is read-only"}
    assert daemon.api("GET", "/containers/json?all=1")[1] == before
    r = daemon.dockyard("run", "-d", "busybox", "sleep", "300")
    cid = r.stdout.strip()
    try:
        for path in ("logs?stdout=1", "export", "archive?path=/etc", "attach/ws"):
            assert get(url, f"api/containers/{cid}/{path}")[0] == 404, path
        assert get(url, "api/images/busybox/get")[0] == 404
        assert get(url, f"api/containers/{cid}/json")[0] == 200
        status, body = get(url, "stats")
        assert status == 200
        sample = json.loads(body)[cid]
        assert sample["mem"] > 0 and sample["cpus"] >= 1 and sample["system"] > 0
        assert get(url, f"api/containers/{cid}/stop", method="POST")[0] == 405
        assert daemon.api("GET", f"/containers/{cid}/json")[1]["State"]["Running"] is True
    finally:
        rm(daemon, cid)


@pytest.fixture
def two_containers(daemon: Daemon) -> Iterator[list[str]]:
    """dash-web: a published port, a named volume and a healthcheck; dash-worker: plain."""
    port = browser.closed_port()
    made = []
    web = ["-p", f"127.0.0.1:{port}:80", "-v", "dashvol:/data",
           "--health-cmd", "true", "--health-interval", "1s"]  # fmt: skip
    try:
        for name, extra in (("dash-web", web), ("dash-worker", [])):
            r = daemon.dockyard("run", "-d", "--name", name, *extra, "busybox", "sleep", "300")
            assert r.returncode == 0, r.stderr
            made.append(r.stdout.strip())
        yield made
    finally:
        for cid in made:
            rm(daemon, cid)
        daemon.api("DELETE", "/volumes/dashvol")


def test_page_in_a_browser(
    daemon: Daemon, dash: dict[str, Any], two_containers: list[str], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    web, worker = two_containers
    web_port = daemon.api("GET", f"/containers/{web}/json")[1]["HostConfig"]["PortBindings"]
    host_port = web_port["80/tcp"][0]["HostPort"]
    url, token = dash["URL"], dash["Token"]
    with browser.chromium() as driver:
        driver.get(url[: -len(token) - 1])  # without the token
        assert "forbidden" in driver.find_element(By.TAG_NAME, "body").text

        driver.get(url)
        wait = WebDriverWait(driver, 30)
        wait.until(
            lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "all"
        )

        def row(name: str) -> Any:
            return driver.find_element(By.CSS_SELECTOR, f'#containers tr[data-name="{name}"]')

        assert row("dash-web").get_attribute("data-state") == "running"
        assert row("dash-worker").get_attribute("data-state") == "running"
        assert f"127.0.0.1:{host_port}->80/tcp" in row("dash-web").text

        # health and the volume, refreshed by the health_status event
        wait.until(lambda d: "(healthy)" in row("dash-web").text)
        volume = driver.find_element(By.CSS_SELECTOR, '#volumes tr[data-volume="dashvol"]')
        assert "dash-web" in volume.text and "local" in volume.text

        # CPU and memory sparklines, from /stats polled every 3 s (CPU needs two samples)
        for cell in (".cpu", ".mem"):
            wait.until(lambda d, cell=cell: row("dash-web").find_elements(
                By.CSS_SELECTOR, f"{cell} polyline"))  # fmt: skip
        assert "%" in row("dash-web").find_element(By.CSS_SELECTOR, ".cpu").text
        assert "B" in row("dash-web").find_element(By.CSS_SELECTOR, ".mem").text

        # the network: an SVG naming both containers
        graph = driver.find_element(By.CSS_SELECTOR, "#network svg")
        assert graph.get_attribute("data-source") == "graph"  # GET /dockyard/network/graph
        texts = [t.text for t in driver.find_elements(By.CSS_SELECTOR, "#network svg text")]
        assert any("dash-web" in t for t in texts) and any("dash-worker" in t for t in texts), texts

        # busybox's layer stack: its layers drawn once, a writable layer for each container
        busybox = daemon.api("GET", "/images/busybox/json")[1]
        drawn = [
            r.get_attribute("data-layer")
            for r in driver.find_elements(By.CSS_SELECTOR, "#layers svg rect[data-layer]")
        ]
        for diff in busybox["RootFS"]["Layers"]:
            assert drawn.count(diff) == 1, drawn
            rect = driver.find_element(By.CSS_SELECTOR, f'#layers rect[data-layer="{diff}"]')
            size = int(rect.get_attribute("data-size") or -1)
            assert size > 1_000_000  # busybox's one layer, as `dockyard image layers` counts it
            title = rect.find_element(By.TAG_NAME, "title").get_attribute("textContent")
            assert " files" in title, title  # files added/changed/removed, from the endpoint
        writable = [
            r.get_attribute("data-container")
            for r in driver.find_elements(By.CSS_SELECTOR, "#layers svg rect[data-container]")
        ]
        assert sorted(writable) == ["dash-web", "dash-worker"]

        # a container's overlay stack, from inspect's GraphDriver with size=1, and what its
        # upper dir holds (the changes)
        r = daemon.dockyard("exec", "dash-web", "sh", "-c", "echo hi > /copied-up")
        assert r.returncode == 0, r.stderr
        row("dash-web").click()
        wait.until(
            lambda d: d.find_elements(By.CSS_SELECTOR, '#changes li[data-path="/copied-up"]')
        )
        assert "A /copied-up" in driver.find_element(By.ID, "changes").text
        upper = daemon.api("GET", f"/containers/{web}/json")[1]["GraphDriver"]["Data"]["UpperDir"]
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '#overlay tr[data-role="upper"]'))
        assert upper in driver.find_element(By.CSS_SELECTOR, '#overlay tr[data-role="upper"]').text
        roles = [
            r.get_attribute("data-role")
            for r in driver.find_elements(By.CSS_SELECTOR, "#overlay tr[data-role]")
        ]
        assert roles[:2] == ["merged", "upper"] and any(r.startswith("lower") for r in roles)

        # a stop shows up without a reload (the event stream), in the list and the events
        driver.execute_script("window.notReloaded = true")
        r = daemon.dockyard("stop", "-t", "0", "dash-worker")
        assert r.returncode == 0, r.stderr
        wait.until(lambda d: row("dash-worker").get_attribute("data-state") == "exited")
        assert driver.execute_script("return window.notReloaded") is True
        actions = [
            e.get_attribute("data-action")
            for e in driver.find_elements(By.CSS_SELECTOR, '#events li[data-type="container"]')
        ]
        assert "die" in actions and "stop" in actions, actions
        # health checks' execs are listed but hidden until asked for
        execs = driver.find_elements(By.CSS_SELECTOR, '#events li[data-action^="exec_"]')
        assert execs and not any(e.is_displayed() for e in execs)
        driver.find_element(By.ID, "show-exec").click()
        assert all(e.is_displayed() for e in execs)

        shot = tmp_path / "dashboard.png"  # the whole page, beyond the window too
        png = driver.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
        )
        shot.write_bytes(base64.b64decode(png["data"]))
        assert shot.stat().st_size > 10_000
        print(f"dashboard screenshot: {shot}")

        # the browser reaches nothing but 127.0.0.1 (TEST-NET-3: never routed anyway)
        from selenium.common.exceptions import WebDriverException

        with pytest.raises(WebDriverException, match="ERR_PROXY_CONNECTION_FAILED"):
            driver.get("http://203.0.113.7/")


def test_daemon_flag_starts_it() -> None:
    """`dockyard daemon --dashboard` serves it from the start, on a port of its own choosing."""
    import os

    from tests.conftest import private_daemon

    with private_daemon("dashflag", f"dyd{os.getpid()}", "--dashboard") as d:
        status, info = d.api("GET", "/dockyard/dashboard")
        assert status == 200 and info["Port"] > 0
        status, body = get(info["URL"])
        assert status == 200 and b"app.js" in body
        r = d.dockyard("dashboard")
        assert r.returncode == 0 and r.stdout == info["URL"] + "\n"


def test_shared_layers_are_drawn_once(daemon: Daemon, dash: dict[str, Any]) -> None:
    """The seed's picture: an image built on busybox shares busybox's layer, which is drawn once
    under both images; 4 containers of one image each get their own thin writable layer."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    made: list[str] = []
    try:
        r = daemon.dockyard("run", "--name", "dash-base", "busybox", "sh", "-c", "echo hi > /f")
        assert r.returncode == 0, r.stderr
        made.append("dash-base")
        r = daemon.dockyard("commit", "dash-base", "dash-child:1")
        assert r.returncode == 0, r.stderr
        for i in range(4):
            r = daemon.dockyard("run", "-d", "--name", f"dash-n{i}", "busybox", "sleep", "300")
            assert r.returncode == 0, r.stderr
            made.append(f"dash-n{i}")
        base = daemon.api("GET", "/images/busybox/json")[1]["RootFS"]["Layers"]
        child = daemon.api("GET", "/images/dash-child:1/json")[1]["RootFS"]["Layers"]
        assert child[: len(base)] == base and len(child) == len(base) + 1
        with browser.chromium() as driver:
            driver.get(dash["URL"])
            WebDriverWait(driver, 30).until(
                lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "all"
            )

            def rects(selector: str) -> list[Any]:
                return driver.find_elements(By.CSS_SELECTOR, f"#layers svg {selector}")

            drawn = [r.get_attribute("data-layer") for r in rects("rect[data-layer]")]
            assert drawn.count(base[-1]) == 1 and drawn.count(child[-1]) == 1, drawn
            shared = rects(f'rect[data-layer="{base[-1]}"]')[0]
            own = rects(f'rect[data-layer="{child[-1]}"]')[0]
            x = float(shared.get_attribute("x") or 0)
            w = float(shared.get_attribute("width") or 0)
            ox = float(own.get_attribute("x") or 0)
            ow = float(own.get_attribute("width") or 0)
            assert x <= ox and ox + ow <= x + w and ow < w  # the child's layer sits on it
            busybox = driver.find_element(By.CSS_SELECTOR, '#layers g[data-image="busybox:latest"]')
            writable = [
                r.get_attribute("data-container")
                for r in busybox.find_elements(By.CSS_SELECTOR, "rect[data-container]")
            ]
            assert {f"dash-n{i}" for i in range(4)} <= set(writable)
            assert "busybox:latest ×" in busybox.text
            text = " ".join(t.text for t in rects("text"))
            assert "dash-child:1" in text
    finally:
        rm(daemon, *made)
        daemon.api("DELETE", "/images/dash-child:1")
