"""Two events from #15 item 6 (E6), side by side with the oracle dockerd: the container `detach`
event when an attached client types the detach keys, and the daemon `reload` event of a SIGHUP
that re-reads daemon.json (D-dpy6-3)."""

from __future__ import annotations

import json
import os
import signal
import socket
import tempfile
import time
from pathlib import Path

import docker
import pytest

from tests.conftest import Daemon, private_daemon, until

pytestmark = [pytest.mark.compat, pytest.mark.integration]


def _detach_actions(host: str) -> list[str]:
    """Attach to a TTY container, type ctrl-p ctrl-q; the container's events of that window."""
    api = docker.APIClient(base_url=host, version="1.41", timeout=60)
    cid = api.create_container("busybox", "cat", tty=True, stdin_open=True)["Id"]
    try:
        api.start(cid)
        since = time.time()
        sock = api.attach_socket(cid, params={"stdin": 1, "stdout": 1, "stream": 1})
        raw: socket.socket = getattr(sock, "_sock", sock)
        try:
            for key in (b"\x10", b"\x11"):
                raw.sendall(key)
                time.sleep(0.3)
            raw.settimeout(10)
            while raw.recv(4096):  # the daemon ends the stream
                pass
        finally:
            raw.close()
        assert api.inspect_container(cid)["State"]["Running"]
        time.sleep(0.3)
        events = api.events(since=since, until=time.time(), decode=True,
                            filters={"container": cid})  # fmt: skip
        return [e["Action"] for e in events]
    finally:
        api.remove_container(cid, force=True)
        api.close()


def test_detach_event_as_dockerd(daemon: Daemon, oracle: str) -> None:
    ours = _detach_actions(daemon.host)
    theirs = _detach_actions(f"unix://{oracle}")
    assert theirs == ["attach", "detach"]
    assert ours == theirs


def _reload_events(host: str, since: float) -> list[dict[str, object]]:
    api = docker.APIClient(base_url=host, version="1.41", timeout=60)
    try:
        return list(api.events(since=since, until=time.time(), decode=True,
                               filters={"type": "daemon"}))  # fmt: skip
    finally:
        api.close()


def test_sighup_reloads_daemon_json_and_emits_reload(oracle: str) -> None:
    """SIGHUP re-reads the file: the reloadable options take their new values and `reload` is
    emitted with dockerd's attributes (the same keys as the oracle's, its Actor the daemon's
    ID); a file dockerd would refuse changes nothing and emits nothing."""
    pid = int((Path(oracle).parent / "d.pid").read_text())
    since = time.time()
    os.kill(pid, signal.SIGHUP)
    theirs = until(lambda: _reload_events(f"unix://{oracle}", since), 10)
    assert [e["Action"] for e in theirs] == ["reload"]
    their_attrs = theirs[0]["Actor"]["Attributes"]  # type: ignore[index]

    conf_dir = Path(tempfile.mkdtemp(prefix="dockyard-reload-"))
    conf = conf_dir / "daemon.json"
    conf.write_text(json.dumps({"max-concurrent-downloads": 3}))
    try:
        with private_daemon("-rl", f"dyz{os.getpid()}", "--config-file", str(conf)) as d:
            assert d.proc is not None
            info_id = docker.APIClient(base_url=d.host, version="1.41").info()["ID"]
            conf.write_text(json.dumps({"debug": True, "max-concurrent-downloads": 7,
                                        "registry-mirrors": ["http://127.0.0.1:9"]}))  # fmt: skip
            since = time.time()
            d.proc.send_signal(signal.SIGHUP)
            ours = until(lambda: _reload_events(d.host, since), 10)
            assert [e["Action"] for e in ours] == ["reload"]
            assert ours[0]["Actor"]["ID"] == info_id  # type: ignore[index]
            attrs = ours[0]["Actor"]["Attributes"]  # type: ignore[index]
            assert set(attrs) == set(their_attrs)
            assert (attrs["debug"], attrs["max-concurrent-downloads"]) == ("true", "7")
            assert attrs["registry-mirrors"] == "[http://127.0.0.1:9]"
            same = ("max-concurrent-uploads", "max-download-attempts", "labels", "features",
                    "default-runtime", "shutdown-timeout", "insecure-registries")  # fmt: skip
            assert {k: attrs[k] for k in same} == {k: their_attrs[k] for k in same}
            # a file with an unknown key: nothing reloaded, no event, still serving
            conf.write_text(json.dumps({"no-such-option": 1}))
            since = time.time()
            d.proc.send_signal(signal.SIGHUP)
            time.sleep(1.5)
            assert _reload_events(d.host, since) == []
            assert d.api("GET", "/_ping")[0] == 200
    finally:
        conf.unlink(missing_ok=True)
        conf_dir.rmdir()
