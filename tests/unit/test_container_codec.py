"""The container record's one codec (#14, E4): Docker's JSON and the engine's typed fields in one
text, read back equal; records written before the typed fields are read into them."""

from __future__ import annotations

import json

from dockyard.core.container import (
    ContainerRecord,
    HealthState,
    NetworkState,
    Published,
    RunState,
)
from dockyard.state.containercodec import ENGINE, decode, encode

DOC = {"State": {"Status": "running"}, "Config": {"Image": "busybox"}, "HostConfig": {}}


def test_round_trip() -> None:
    rec = ContainerRecord(
        "c" * 64, "web", "2026-12-06T00:00:00Z", "sha256:" + "a" * 64, json.loads(json.dumps(DOC)),
        mount_id="m1", log_path="/x/c-json.log",
        run=RunState(shim_pid=42, manually_stopped=True, restart_count=3),
        net=NetworkState({"bridge": {}, "n1": {"Aliases": ["a"]}}, True, {"eth": 2},
                         [Published("tcp", 80, "0.0.0.0", 8080)], {"80/tcp": 8080}),
    )  # fmt: skip
    text = encode(rec)
    assert json.loads(text)[ENGINE]["run"]["shim_pid"] == 42
    back = decode(rec.id, rec.name, rec.created, rec.image_id, text)
    assert back == rec
    assert ENGINE not in back.doc  # Docker's JSON stays Docker's


def test_legacy_records_are_read_into_the_fields() -> None:
    old = {**DOC, "MountId": "m0", "LogPath": "/l", "ShimPid": 7, "ManuallyStopped": True,
           "RestartCount": 2, "NetworkingConfig": {"EndpointsConfig": {"n1": {}}},
           "NetworksSeeded": True, "NextIfIndex": {"eth": 1}, "LastPorts": {"80/tcp": 1},
           "PublishedPorts": [{"proto": "tcp", "container_port": 80, "host_ip": "0.0.0.0",
                               "host_port": 1}]}  # fmt: skip
    rec = decode("c" * 64, "old", "t", "i", json.dumps(old))
    assert rec.doc == DOC
    assert (rec.mount_id, rec.log_path) == ("m0", "/l")
    assert rec.run == RunState(7, True, 2)
    assert rec.net == NetworkState({"n1": {}}, True, {"eth": 1},
                                   [Published("tcp", 80, "0.0.0.0", 1)], {"80/tcp": 1})  # fmt: skip
    assert "MountId" not in json.loads(encode(rec))


def test_health_state_round_trips_and_is_absent_by_default() -> None:
    """E6: State.Health is a typed field, kept across a daemon restart like dockerd's."""
    result = {"Start": "2026-12-06T00:00:01Z", "End": "2026-12-06T00:00:02Z", "ExitCode": -1,
              "Output": "Health check exceeded timeout (1s)"}  # fmt: skip
    rec = ContainerRecord("c" * 64, "h", "t", "i", json.loads(json.dumps(DOC)),
                          health=HealthState("unhealthy", 3, [result]))  # fmt: skip
    text = encode(rec)
    assert json.loads(text)[ENGINE]["health"]["failing_streak"] == 3
    assert "Health" not in json.loads(text)["State"]  # the typed field, not an engine key in doc
    back = decode(rec.id, rec.name, rec.created, rec.image_id, text)
    assert back.health == HealthState("unhealthy", 3, [result])
    assert back.health.doc() == {"Status": "unhealthy", "FailingStreak": 3, "Log": [result]}
    plain = ContainerRecord("d" * 64, "p", "t", "i", json.loads(json.dumps(DOC)))
    assert decode(plain.id, "p", "t", "i", encode(plain)).health is None
