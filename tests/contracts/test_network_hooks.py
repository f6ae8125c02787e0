"""The NetworkHooks contract (#14, N1-N4), as core/hooks.py documents its lifecycle: validate at
create (400s, nothing made), setup at start (a plan; undoes itself on error), teardown at exit
and rm (idempotent, nothing left). One suite for every implementation (a fake joins by adding
its factory to HOOKS). The real one runs on its own bridge, torn down after."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.config import Config
from dockyard.core.container import ContainerRecord
from dockyard.core.hooks import NetworkHooks
from dockyard.core.locks import KeyedLocks
from dockyard.network.records import SCHEMA
from dockyard.network.setup import build_networks
from dockyard.state.db import Database
from tests import host_filter

pytestmark = [pytest.mark.integration]


class NoContainers:
    """The container store as the network service asks it: none but the ones set up here."""

    def resolve(self, ref: str) -> ContainerRecord:
        raise errors.NotFound(f"No such container: {ref}")

    def save(self, rec: ContainerRecord) -> None:
        pass


def bridge_networks(root: Path) -> tuple[NetworkHooks, Callable[[], None]]:
    cfg = Config(data_root=root / "data", exec_root=root / "exec")
    cfg.ensure_dirs()
    db = Database.open(cfg.db_path, schemas=[SCHEMA])
    bridge = f"dyk{os.getpid() % 100000}"
    nets = build_networks(cfg, db, bridge, "", (), True, NoContainers(), KeyedLocks())
    nets.start()

    def close() -> None:
        nets.close()
        db.close()
        for family in ("ip", "netdev"):
            subprocess.run(["nft", "delete", "table", family, f"dockyard-{bridge}"],
                           capture_output=True, check=False)  # fmt: skip
        host_filter.remove_rules(bridge)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True, check=False)

    return nets, close


HOOKS = {"bridge": bridge_networks}


def record(cid: str, host_config: dict[str, object]) -> ContainerRecord:
    return ContainerRecord(cid * 64, f"n{cid}", "2026-12-06T00:00:00Z", "sha256:x",
                           {"Config": {"Hostname": cid * 12}, "HostConfig": host_config,
                            "State": {"Status": "created"}})  # fmt: skip


@pytest.fixture(params=sorted(HOOKS))
def hooks(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NetworkHooks]:
    made, close = HOOKS[request.param](tmp_path)
    yield made
    close()


def test_validate(hooks: NetworkHooks) -> None:
    assert hooks.validate({}, None) == []
    assert hooks.validate({"NetworkMode": "host", "PortBindings": {"80/tcp": [{}]}}, None) == [
        "Published ports are discarded when using host network mode"
    ]
    for hc in ({"NetworkMode": "container:"}, {"Links": ["nosuch:x"]},
               {"NetworkMode": "host", "Links": ["a:b"]}):  # fmt: skip
        with pytest.raises(errors.InvalidParameter):
            hooks.validate(hc, None)


def test_none_host_and_bridge(hooks: NetworkHooks) -> None:
    """none: an own netns with lo; host: the host's; bridge: a netns with an address. Teardown
    twice leaves no namespace."""
    none = record("a", {"NetworkMode": "none"})
    plan = hooks.setup(none)
    assert plan.netns_path and Path(plan.netns_path).exists()
    hooks.teardown(none)
    hooks.teardown(none)
    assert not Path(plan.netns_path).exists()
    host = record("b", {"NetworkMode": "host"})
    assert hooks.setup(host).netns_path == "host"
    hooks.teardown(host)
    bridged = record("c", {"NetworkMode": "bridge"})
    plan = hooks.setup(bridged)
    try:
        assert plan.netns_path and Path(plan.netns_path).exists()
        ip = bridged.doc["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
        assert ip and plan.address in (None, ip)
    finally:
        hooks.teardown(bridged)
        hooks.teardown(bridged)
    assert not Path(plan.netns_path).exists()


def test_a_failed_setup_leaves_nothing(hooks: NetworkHooks, tmp_path: Path) -> None:
    rec = record("d", {"NetworkMode": "bridge", "Links": ["gone:alias"]})
    with pytest.raises(errors.DockyardError):
        hooks.setup(rec)
    assert not list((tmp_path / "exec" / "netns").glob("*"))
