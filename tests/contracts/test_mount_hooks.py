"""The MountHooks contract (#14, S8-S10), as core/hooks.py documents its lifecycle: validate at
create (400s, nothing made), prepare after the rw layer exists (volumes made and populated, the
inspect `.Mounts` returned), oci_mounts at every start, release at rm (idempotent). One suite
for every implementation (a fake joins by adding its factory to HOOKS)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.core.container import ContainerRecord
from dockyard.core.hooks import MountHooks
from dockyard.state import volumes as volume_state
from dockyard.state.db import Database
from dockyard.volumes.hooks import VolumeMounts
from dockyard.volumes.local import LocalDriver
from dockyard.volumes.store import VolumeStore

pytestmark = [pytest.mark.integration]


def volume_mounts(
    root: Path, records: list[ContainerRecord]
) -> tuple[MountHooks, Callable[[], None]]:
    root.mkdir(parents=True, exist_ok=True)
    db = Database.open(root / "dockyard.db", schemas=[volume_state.SCHEMA])
    store = VolumeStore(db, LocalDriver(root / "volumes"),
                        users=lambda: [(r.id, _volume_names(r)) for r in records])  # fmt: skip
    return VolumeMounts(store, root), db.close


def _volume_names(rec: ContainerRecord) -> list[str]:
    return [m["Name"] for m in rec.doc.get("Mounts") or [] if m.get("Type") == "volume"]


HOOKS = {"volumes": volume_mounts}


@pytest.fixture(params=sorted(HOOKS))
def hooks(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MountHooks]:
    made, close = HOOKS[request.param](tmp_path / "hooks", [])
    yield made
    close()


def record(config: dict[str, object], host_config: dict[str, object]) -> ContainerRecord:
    return ContainerRecord("c" * 64, "c", "2026-12-06T00:00:00Z", "sha256:x",
                           {"Config": config, "HostConfig": host_config, "State": {}})  # fmt: skip


def test_validate_refuses_bad_specs_with_400s(hooks: MountHooks) -> None:
    hooks.validate({}, {})
    for hc in ({"Binds": ["/a:rel"]}, {"Binds": [":/x"]}, {"Binds": ["/a:/b:zz"]},
               {"Mounts": [{"Type": "bind", "Source": "/no/such/dir/at/all", "Target": "/x"}]}):  # fmt: skip
        with pytest.raises(errors.InvalidParameter):
            hooks.validate({}, hc)


def test_prepare_start_release(hooks: MountHooks, tmp_path: Path) -> None:
    """A named volume, an anonymous one (image VOLUME), a bind and a tmpfs: the inspect list
    names the volumes and the bind, the OCI list has all four, release is idempotent."""
    rootfs = tmp_path / "rootfs"
    (rootfs / "data").mkdir(parents=True)
    (rootfs / "data" / "seed").write_text("from the image\n")
    src = tmp_path / "src"
    src.mkdir()
    rec = record({"Volumes": {"/data": {}}},
                 {"Binds": ["named:/named", f"{src}:/bound:ro"], "Tmpfs": {"/scratch": ""}})  # fmt: skip
    rec.doc["Mounts"] = hooks.prepare(rec, rootfs)
    kinds = sorted((m["Type"], m["Destination"]) for m in rec.doc["Mounts"])
    assert kinds == [("bind", "/bound"), ("volume", "/data"), ("volume", "/named")]
    anon = next(m for m in rec.doc["Mounts"] if m["Destination"] == "/data")
    assert (Path(anon["Source"]) / "seed").read_text() == "from the image\n"  # populated (S8)
    oci = {m["destination"]: m for m in hooks.oci_mounts(rec)}
    assert set(oci) == {"/data", "/named", "/bound", "/scratch"}
    assert "ro" in oci["/bound"]["options"] and oci["/scratch"]["type"] == "tmpfs"
    hooks.release(rec, remove_anonymous=True)
    hooks.release(rec, remove_anonymous=True)
    assert not Path(anon["Source"]).exists()  # anonymous volumes go with -v
