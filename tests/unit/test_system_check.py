"""R1 (#17): `system check`'s pure rules, on snapshots and fakes made here: the layer store's
references and chains (storage/check.py), images' links to their layers (images/check.py),
the record/runc/freezer rule (services/containers/consistency.py), the report's shape and the
activity gate that keeps the check away from transfers in flight."""

from __future__ import annotations

import json
import threading
import time

import pytest

from dockyard.core.activity import Activity
from dockyard.core.findings import Finding, report
from dockyard.core.layers import Layer, RWLayer
from dockyard.errors import Conflict
from dockyard.images.check import BLOB, CORRUPT, IMAGE, damaged_images, image_findings
from dockyard.services.containers.consistency import (
    FROZEN_RUNNING,
    NOT_FROZEN,
    repairable,
    runtime_problem,
)
from dockyard.state.images import ImageRecord
from dockyard.storage.check import NO_RECORD, UNREFERENCED, LayerSnapshot, layer_findings
from dockyard.storage.layers import chain_id_of

D1, D2, D3 = ("sha256:" + c * 64 for c in "123")
C1 = chain_id_of(None, D1)
C2 = chain_id_of(C1, D2)
C3 = chain_id_of(C2, D3)


def _layer(chain: str, diff: str, parent: str | None, cache: str) -> Layer:
    return Layer(chain, diff, parent, cache, 10)


def _healthy() -> LayerSnapshot:
    # base <- mid <- top; the image holds top; a container runs on mid.
    layers = [
        (_layer(C1, D1, None, "a" * 64), 1),
        (_layer(C2, D2, C1, "b" * 64), 2),
        (_layer(C3, D3, C2, "c" * 64), 1),
    ]
    rw = [RWLayer("ctr", "m" * 64, "m" * 64 + "-init", C2)]
    dirs = {"a" * 64, "b" * 64, "c" * 64, "m" * 64, "m" * 64 + "-init"}
    return LayerSnapshot(layers, rw, dirs)


def _problems(found: list[Finding]) -> set[tuple[str, str]]:
    return {(f.target, f.problem) for f in found}


def test_a_consistent_store_has_no_findings() -> None:
    assert layer_findings(_healthy(), [C3]) == []


def test_reference_counts_are_compared_with_their_holders() -> None:
    snap = _healthy()
    snap.layers[0] = (snap.layers[0][0], 3)  # base: one child holds it, the count says 3
    found = layer_findings(snap, [C3])
    assert _problems(found) == {(C1, "reference count is 3, 1 hold it")}
    assert found[0].repairable


def test_a_layer_held_by_nothing_is_unreferenced() -> None:
    """What a killed build left: the step's image gone, its layer still counted once."""
    found = layer_findings(_healthy(), [])  # the image that held the top layer is gone
    assert _problems(found) == {(C3, UNREFERENCED)}
    assert all(f.repairable for f in found)


def test_missing_parent_directory_and_top_layer_are_not_repairable() -> None:
    snap = _healthy()
    snap.layers.pop(0)  # base's record is gone; mid still names it
    snap.dirs.discard("c" * 64)
    found = layer_findings(snap, [C3, "sha256:" + "9" * 64])
    assert _problems(found) == {
        (C2, f"parent layer {C1} does not exist"),
        (C3, f"directory {'c' * 64} is missing"),
        ("sha256:" + "9" * 64, "an image's top layer does not exist"),
        ("a" * 64, NO_RECORD),  # base's directory is now nobody's
    }
    assert [f.repairable for f in found if f.problem != NO_RECORD] == [False] * 3


def test_orphan_directories_are_reported_unless_a_register_is_filling_them() -> None:
    snap = _healthy()
    snap.dirs |= {"d" * 64, "e" * 64}
    snap.busy = {"e" * 64}
    assert _problems(layer_findings(snap, [C3])) == {("d" * 64, NO_RECORD)}


def test_container_layer_without_its_directories_or_image_layer() -> None:
    snap = _healthy()
    snap.dirs.discard("m" * 64)
    snap.rw.append(RWLayer("other", "n" * 64, "n" * 64 + "-init", "sha256:" + "8" * 64))
    snap.dirs |= {"n" * 64, "n" * 64 + "-init"}
    assert _problems(layer_findings(snap, [C3])) == {
        ("ctr", f"directory {'m' * 64} is missing"),
        ("other", f"image layer sha256:{'8' * 64} does not exist"),
    }


def _image(top: str | None, config: str = "sha256:" + "f" * 64) -> ImageRecord:
    return ImageRecord(config, config, top, None, "", 0.0, 0)


def test_image_links_follow_the_configs_diff_ids() -> None:
    cfg = b'{"rootfs": {"type": "layers", "diff_ids": ["%s", "%s"]}}' % (D1.encode(), D2.encode())
    exists = {C1, C2}.__contains__
    assert image_findings([_image(C2)], lambda d: cfg, exists) == []
    found = image_findings([_image(C3)], lambda d: cfg, exists)
    assert [f.problem for f in found] == [f"records top layer {C3}, its config makes {C2}"]
    found = image_findings([_image(C2)], lambda d: cfg, {C1}.__contains__)
    assert [f.problem for f in found] == [f"layer {C2} (diff {D2}) does not exist"]


def test_an_unreadable_config_is_a_finding() -> None:
    def missing(digest: str) -> bytes:
        raise FileNotFoundError(digest)

    found = image_findings([_image(C1)], missing, lambda c: True)
    assert [(f.kind, f.repairable) for f in found] == [("image", False)]
    assert "missing or unreadable" in found[0].problem


@pytest.mark.parametrize(
    ("status", "runc", "frozen", "shim", "problem"),
    [
        ("running", "running", False, True, ""),
        ("paused", "paused", True, True, ""),
        ("exited", None, False, False, ""),
        ("running", "stopped", False, True, ""),  # its exit watcher records it
        ("running", None, False, False, "recorded running but its process is gone"),
        ("paused", "stopped", False, False, "recorded paused but its process is gone"),
        ("running", "paused", True, True, FROZEN_RUNNING),
        ("running", "running", True, True, FROZEN_RUNNING),
        ("paused", "running", False, True, NOT_FROZEN),
        ("exited", "running", False, True, "recorded exited but runc runs it"),
    ],
)
def test_runtime_rule(
    status: str, runc: str | None, frozen: bool, shim: bool, problem: str
) -> None:
    assert runtime_problem(status, runc, frozen, shim) == problem
    if problem:
        assert repairable(problem) == ("runc runs it" not in problem)


def test_report_has_errors_only_while_something_is_unrepaired() -> None:
    done = Finding("blob", "x", "p", repairable=True, repaired=True)
    left = Finding("layer", "y", "q")
    assert report([]) == {"Errors": False, "Findings": []}
    assert report([done])["Errors"] is False
    out = report([done, left])
    assert out["Errors"] is True
    assert out["Findings"] == [
        {"Kind": "blob", "Object": "x", "Problem": "p", "Repairable": True, "Repaired": True},
        {"Kind": "layer", "Object": "y", "Problem": "q", "Repairable": False, "Repaired": False},
    ]


def test_activity_gate_waits_for_transfers_and_holds_them_off() -> None:
    gate = Activity()
    with gate.shared(), pytest.raises(Conflict, match="in progress"), gate.exclusive(0.05):
        pass
    entered = threading.Event()

    def transfer() -> None:
        with gate.shared():
            entered.set()

    with gate.exclusive(1):
        t = threading.Thread(target=transfer)
        t.start()
        time.sleep(0.05)
        assert not entered.is_set()  # held off while the check runs
    t.join(5)
    assert entered.is_set()
    stream = gate.holding(iter([1, 2]))
    assert next(stream) == 1
    with pytest.raises(Conflict), gate.exclusive(0.01):
        pass
    assert list(stream) == [2]
    with gate.exclusive(0.01):
        pass


def test_damage_reaches_the_images_built_on_it() -> None:
    """podman's --repair removes damaged images: one whose own finding, config or layer tar is
    bad, or a layer of whose chain is broken past a recount; a recount alone damages nothing."""

    def rec(n: str, *diffs: str) -> tuple[ImageRecord, bytes]:
        doc = {"rootfs": {"type": "layers", "diff_ids": list(diffs)}}
        r = ImageRecord(f"sha256:{n * 64}", f"sha256:{n.upper() * 64}", None, None, "", 0, 0)
        return r, json.dumps(doc).encode()

    base, mid, top, other = rec("a", D1), rec("b", D1, D2), rec("c", D1, D2, D3), rec("d", D3)
    configs = {r.config_digest: raw for r, raw in (base, mid, top, other)}
    records = [r for r, _ in (base, mid, top, other)]

    def damaged(*found: Finding) -> dict[str, str]:
        return damaged_images(records, configs.__getitem__, found)

    assert damaged(Finding("layer", C2, "reference count is 3, 1 hold it", repairable=True)) == {}
    broken = damaged(Finding("layer", C2, "directory x is missing"))
    assert broken == {r.id: f"its layer {C2}: directory x is missing" for r in (mid[0], top[0])}
    tar = damaged(Finding(BLOB, D3, CORRUPT))
    assert tar == {r.id: f"its layer tar {D3} is corrupt" for r in (top[0], other[0])}
    assert damaged(Finding(BLOB, base[0].config_digest, CORRUPT)) == {
        base[0].id: f"its config {base[0].config_digest} is corrupt"
    }
    assert damaged(Finding(IMAGE, other[0].id, "config x is missing or unreadable")) == {
        other[0].id: "config x is missing or unreadable"
    }
