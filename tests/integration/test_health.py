"""Healthchecks (#15, E6) on the real kernel: probes are execs (runc exec under the exec shim)
run by the daemon on a timer; State.Health, events, ps status and filters as dockerd 20.10."""

from __future__ import annotations

import json
import os
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from dockyard.core.timefmt import parse_rfc3339
from tests.conftest import Daemon, UnixHTTPConnection, private_daemon, until

pytestmark = pytest.mark.integration

MS = 1_000_000


def _run(d: Daemon, health: dict[str, Any] | None, image: str = "busybox", **cfg: Any) -> str:
    body: dict[str, Any] = {"Image": image, "Cmd": ["sleep", "300"], **cfg}
    if health is not None:
        body["Healthcheck"] = health
    status, out = d.api("POST", "/containers/create", body)
    assert status == 201, out
    assert d.api("POST", f"/containers/{out['Id']}/start")[0] == 204
    return str(out["Id"])


def _state(d: Daemon, cid: str) -> dict[str, Any]:
    status, info = d.api("GET", f"/containers/{cid}/json")
    assert status == 200, info
    st: dict[str, Any] = info["State"]
    return st


def _health(d: Daemon, cid: str) -> dict[str, Any]:
    h: dict[str, Any] = _state(d, cid).get("Health") or {}
    return h


def _rm(d: Daemon, *cids: str) -> None:
    for cid in cids:
        d.api("DELETE", f"/containers/{cid}?force=1")


def test_healthy_container_reaches_healthy_after_one_interval(daemon: Daemon) -> None:
    started = time.monotonic()
    cid = _run(daemon, {"Test": ["CMD-SHELL", "echo ok; echo err >&2"], "Interval": 500 * MS})
    try:
        assert _health(daemon, cid) == {"Status": "starting", "FailingStreak": 0, "Log": []}
        h = until(
            lambda: _health(daemon, cid).get("Status") == "healthy" and _health(daemon, cid), 5
        )
        took = time.monotonic() - started
        assert h, _health(daemon, cid)
        assert 0.4 < took < 10, took  # the first probe runs one interval after start
        entry = h["Log"][0]
        assert entry["ExitCode"] == 0 and entry["Output"] in ("ok\nerr\n", "err\nok\n")
        assert entry["Start"] <= entry["End"] and entry["Start"] > _state(daemon, cid)["StartedAt"]
        assert h["FailingStreak"] == 0
        # the log keeps the last five results only
        assert until(lambda: len(_health(daemon, cid)["Log"]) == 5, 20)
        assert until(lambda: _health(daemon, cid)["Log"][0]["Start"] > entry["Start"], 20)
        assert len(_health(daemon, cid)["Log"]) == 5
        # probes are forgotten execs, as in dockerd
        assert daemon.api("GET", f"/containers/{cid}/json")[1]["ExecIDs"] is None
    finally:
        _rm(daemon, cid)


def test_failures_count_up_to_retries_then_unhealthy(daemon: Daemon) -> None:
    cid = _run(daemon, {"Test": ["CMD", "sh", "-c", "echo no; exit 3"], "Interval": 300 * MS,
                        "Retries": 3})  # fmt: skip
    try:
        first = until(lambda: _health(daemon, cid)["Log"] and _health(daemon, cid), 15)
        # retries: below 3 failures in a row it is still starting
        assert first["FailingStreak"] >= 1
        assert (first["Status"] == "starting") == (first["FailingStreak"] < 3), first
        h = until(lambda: _health(daemon, cid)["Status"] == "unhealthy" and _health(daemon, cid), 5)
        assert h and h["FailingStreak"] >= 3
        assert all(e["ExitCode"] == 3 and e["Output"] == "no\n" for e in h["Log"])
        # a container that becomes healthy again: streak reset
    finally:
        _rm(daemon, cid)


def test_recovery_resets_the_streak(daemon: Daemon) -> None:
    cid = _run(daemon, {"Test": ["CMD-SHELL", "test -e /tmp/ok"], "Interval": 300 * MS,
                        "Retries": 1})  # fmt: skip
    try:
        assert until(lambda: _health(daemon, cid)["Status"] == "unhealthy", 15)
        status, out = daemon.api("POST", f"/containers/{cid}/exec",
                                 {"Cmd": ["touch", "/tmp/ok"]})  # fmt: skip
        assert status == 201
        assert daemon.api("POST", f"/exec/{out['Id']}/start", {"Detach": True})[0] == 200
        h = until(lambda: _health(daemon, cid)["Status"] == "healthy" and _health(daemon, cid), 15)
        assert h and h["FailingStreak"] == 0 and h["Log"][-1]["ExitCode"] == 0
    finally:
        _rm(daemon, cid)


def test_a_probe_over_its_timeout_fails_and_is_killed(daemon: Daemon) -> None:
    cid = _run(daemon, {"Test": ["CMD-SHELL", "sleep 7"], "Interval": 300 * MS,
                        "Timeout": 400 * MS, "Retries": 2})  # fmt: skip
    try:
        h = until(lambda: _health(daemon, cid)["Status"] == "unhealthy" and _health(daemon, cid), 6)
        assert h, _health(daemon, cid)
        for e in h["Log"]:
            assert e["ExitCode"] == -1
            assert e["Output"] == "Health check exceeded timeout (400ms)"
        # the timed-out probes were killed, not left to pile up
        top = daemon.api("GET", f"/containers/{cid}/top?ps_args=-eo%20pid,args")[1]
        sleeping = [p for p in top["Processes"] if "sleep 7" in " ".join(p)]
        assert len(sleeping) <= 1, top
    finally:
        _rm(daemon, cid)


def test_failures_within_the_start_period_do_not_count(daemon: Daemon) -> None:
    cid = _run(daemon, {"Test": ["CMD", "false"], "Interval": 300 * MS,
                        "StartPeriod": 2500 * MS, "Retries": 1})  # fmt: skip
    try:
        started = parse_rfc3339(_state(daemon, cid)["StartedAt"])

        def counted(log: list[dict[str, Any]]) -> int:
            return sum(parse_rfc3339(e["Start"]) - started >= 2.5 for e in log)

        h = until(lambda: len(_health(daemon, cid)["Log"]) >= 2 and _health(daemon, cid), 15)
        if counted(h["Log"]) == 0:  # every failure so far was within the start period
            assert h["Status"] == "starting" and h["FailingStreak"] == 0, h
        h = until(lambda: _health(daemon, cid)["Status"] == "unhealthy" and _health(daemon, cid), 5)
        assert h, _health(daemon, cid)
        assert counted(h["Log"]) >= 1  # only a failure after the period made it unhealthy
        in_period = [e for e in h["Log"] if parse_rfc3339(e["Start"]) - started < 2.5]
        after = len(h["Log"]) - len(in_period)
        assert h["FailingStreak"] == after if len(h["Log"]) < 5 else h["FailingStreak"] >= after
    finally:
        _rm(daemon, cid)


def test_output_is_capped_as_dockerd_caps_it(daemon: Daemon) -> None:
    cid = _run(daemon, {"Test": ["CMD-SHELL", "head -c 5000 /dev/zero | tr '\\0' x"],
                        "Interval": 300 * MS})  # fmt: skip
    try:
        h = until(lambda: _health(daemon, cid)["Log"] and _health(daemon, cid), 15)
        assert h["Log"][0]["Output"] == "x" * 4096 + "..."
    finally:
        _rm(daemon, cid)


def test_stop_leaves_unhealthy_and_start_begins_again(daemon: Daemon) -> None:
    cid = _run(daemon, {"Test": ["CMD", "true"], "Interval": 300 * MS})
    try:
        assert until(lambda: _health(daemon, cid)["Status"] == "healthy", 15)
        assert daemon.api("POST", f"/containers/{cid}/stop?t=0")[0] == 204
        h = _health(daemon, cid)
        assert h["Status"] == "unhealthy" and h["FailingStreak"] == 0
        n = len(h["Log"])
        time.sleep(0.8)
        assert len(_health(daemon, cid)["Log"]) == n  # no probes once stopped
        assert daemon.api("POST", f"/containers/{cid}/start")[0] == 204
        h = _health(daemon, cid)
        assert h["Status"] == "starting" and len(h["Log"]) == n  # the log is kept
        assert until(lambda: _health(daemon, cid)["Status"] == "healthy", 15)
    finally:
        _rm(daemon, cid)


def test_pause_stops_probes_and_unpause_resumes_them(daemon: Daemon) -> None:
    cid = _run(daemon, {"Test": ["CMD", "true"], "Interval": 300 * MS})
    try:
        assert until(lambda: _health(daemon, cid)["Status"] == "healthy", 15)
        assert daemon.api("POST", f"/containers/{cid}/pause")[0] == 204
        time.sleep(0.5)
        last = _health(daemon, cid)["Log"][-1]["Start"]
        time.sleep(0.8)
        assert _health(daemon, cid)["Log"][-1]["Start"] == last
        assert daemon.api("POST", f"/containers/{cid}/unpause")[0] == 204
        assert until(lambda: _health(daemon, cid)["Log"][-1]["Start"] > last, 3)
    finally:
        _rm(daemon, cid)


def test_no_healthcheck_and_none_turn_the_image_probe_off(daemon: Daemon) -> None:
    ctx = b"FROM busybox\nHEALTHCHECK --interval=300ms --retries=2 CMD true\n"
    img = _build(daemon, ctx, "dy-health-img")
    none = _build(daemon, b"FROM dy-health-img\nHEALTHCHECK NONE\n", "dy-health-none")
    assert none["Config"]["Healthcheck"]["Test"] == ["NONE"]
    cids = []
    try:
        assert img["Config"]["Healthcheck"] == {"Test": ["CMD-SHELL", "true"],
                                                "Interval": 300 * MS, "Retries": 2}  # fmt: skip
        inherited = _run(daemon, None, "dy-health-img")
        off = _run(daemon, {"Test": ["NONE"]}, "dy-health-img")
        from_none = _run(daemon, None, "dy-health-none")
        cids += [inherited, off, from_none]
        assert until(lambda: _health(daemon, inherited).get("Status") == "healthy", 15)
        for cid in (off, from_none):
            st = _state(daemon, cid)
            assert "Health" not in st
            cfg = daemon.api("GET", f"/containers/{cid}/json")[1]["Config"]["Healthcheck"]
            # dockerd's merge: NONE keeps the image's timings
            assert cfg == {"Test": ["NONE"], "Interval": 300 * MS, "Retries": 2}
        rows = daemon.api(
            "GET", "/containers/json?filters=" + quote(json.dumps({"health": ["none"]}))
        )[1]
        ids = {r["Id"] for r in rows}
        assert off in ids and from_none in ids and inherited not in ids
    finally:
        _rm(daemon, *cids)
        daemon.api("DELETE", "/images/dy-health-none")
        daemon.api("DELETE", "/images/dy-health-img")


def _build(d: Daemon, dockerfile: bytes, tag: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as ctx:
        (Path(ctx) / "Dockerfile").write_bytes(dockerfile)
        built = d.dockyard("build", "-q", "-t", tag, ctx)
        assert built.returncode == 0, built.stderr
    status, img = d.api("GET", f"/images/{tag}/json")
    assert status == 200, img
    result: dict[str, Any] = img
    return result


def _raw(d: Daemon, path: str) -> bytes:
    conn = UnixHTTPConnection(str(d.socket))
    conn.request("GET", path)
    body = conn.getresponse().read()
    conn.close()
    return body


def test_bad_healthcheck_values_get_dockerds_words_and_create_nothing(daemon: Daemon) -> None:
    before = len(daemon.api("GET", "/containers/json?all=1")[1])
    for hc, word in (({"Test": ["CMD", "true"], "Interval": 5}, "Interval in Healthcheck cannot "
                      "be less than 1ms"),
                     ({"Test": ["CMD", "true"], "Timeout": 5}, "Timeout in Healthcheck cannot "
                      "be less than 1ms"),
                     ({"Test": ["CMD", "true"], "StartPeriod": 5}, "StartPeriod in Healthcheck "
                      "cannot be less than 1ms"),
                     ({"Test": ["CMD", "true"], "Retries": -1}, "Retries in Healthcheck cannot "
                      "be negative")):  # fmt: skip
        status, out = daemon.api(
            "POST", "/containers/create", {"Image": "busybox", "Healthcheck": hc}
        )
        assert (status, out["message"]) == (400, word)
    assert len(daemon.api("GET", "/containers/json?all=1")[1]) == before


def test_ps_status_filter_and_events(daemon: Daemon) -> None:
    since = time.time()
    good = _run(daemon, {"Test": ["CMD", "true"], "Interval": 300 * MS})
    bad = _run(daemon, {"Test": ["CMD", "false"], "Interval": 300 * MS, "Retries": 1})
    slow = _run(daemon, {"Test": ["CMD", "true"], "Interval": 60_000 * MS})
    plain = _run(daemon, None)
    try:
        assert until(lambda: _health(daemon, good)["Status"] == "healthy"
                      and _health(daemon, bad)["Status"] == "unhealthy", 5)  # fmt: skip

        def listed(value: str) -> dict[str, str]:
            q = quote(json.dumps({"health": [value]}))
            rows = daemon.api("GET", f"/containers/json?filters={q}")[1]
            return {r["Id"]: r["Status"] for r in rows}

        healthy, unhealthy, starting, none = (listed(v) for v in
                                              ("healthy", "unhealthy", "starting", "none"))  # fmt: skip
        assert good in healthy and healthy[good].endswith(" (healthy)")
        assert bad in unhealthy and unhealthy[bad].endswith(" (unhealthy)")
        assert slow in starting and starting[slow].endswith(" (health: starting)")
        assert plain in none and none[plain].startswith("Up ") and "(" not in none[plain]
        assert not {good, bad, slow} & set(none)
        status, out = daemon.api(
            "GET", "/containers/json?filters=" + quote(json.dumps({"health": ["x"]}))
        )
        assert (status, out["message"]) == (400, "Unrecognised filter value for health: x")
        end = time.time()
        q = quote(json.dumps({"container": [good, bad]}))
        raw = _raw(daemon, f"/events?since={since}&until={end}&filters={q}")
        events = [json.loads(line) for line in raw.decode().splitlines() if line]
        actions = [(e["id"], e["Action"]) for e in events]
        assert (good, "health_status: healthy") in actions
        assert (bad, "health_status: unhealthy") in actions
        assert actions.count((good, "health_status: healthy")) == 1  # only on a change
        dies = [e for e in events if e["Action"] == "exec_die" and e["id"] == bad]
        assert dies and dies[0]["Actor"]["Attributes"]["exitCode"] == "1"
        assert (bad, "exec_create: false ") in actions and (bad, "exec_start: false ") in actions
    finally:
        _rm(daemon, good, bad, slow, plain)


@pytest.fixture
def own_daemon() -> Iterator[Daemon]:
    with private_daemon("-hc", f"dyh{os.getpid()}") as d:
        yield d


def test_probes_resume_after_kill9_and_restart_of_the_daemon(own_daemon: Daemon) -> None:
    d = own_daemon
    cid = _run(d, {"Test": ["CMD-SHELL", "echo $((`cat /tmp/n 2>/dev/null || echo 0` + 1)) > "
                            "/tmp/n; test `cat /tmp/n` -lt 4"],
                   "Interval": 300 * MS, "Retries": 2})  # fmt: skip
    assert until(lambda: _health(d, cid)["Status"] == "healthy", 15)
    d.stop(signal.SIGKILL)
    time.sleep(0.5)
    d.start()
    h = _health(d, cid)
    assert h["Status"] == "healthy" and h["Log"], h  # kept in the record
    h = until(lambda: _health(d, cid)["Status"] == "unhealthy" and _health(d, cid), 15)
    assert h and h["FailingStreak"] >= 2, _health(d, cid)
    _rm(d, cid)
