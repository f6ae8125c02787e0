"""`system check` of the layer store (R1, #17): references, chains and directories.

`layer_findings` is the pure part: from a snapshot of the metadata (each layer with its stored
reference count, the container layers), the directories the driver holds and the holders
outside the store (each image's top layer, once per image), it lists what is wrong. The
expected reference count is the one reconcile_refs() restores: holders + child layers +
container layers. `check_layers` takes the snapshot from the store and, asked to, repairs
with the store's own start-up functions (reconcile_refs, prune_dangling, remove_orphans)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from dockyard.core.findings import Finding
from dockyard.core.layers import Layer, RWLayer
from dockyard.storage.layers import Layers

LAYER = "layer"
RW = "container layer"
REFS = "reference count"
UNREFERENCED = "not used by any image, container or layer"
NO_RECORD = "directory without a layer record"


@dataclass
class LayerSnapshot:
    layers: list[tuple[Layer, int]]  # each layer and its stored reference count
    rw: list[RWLayer]
    dirs: set[str]  # the driver's layer directories
    busy: set[str] = field(default_factory=set)  # directories being made or removed right now


def expected_refs(snap: LayerSnapshot, holders: Iterable[str]) -> Counter[str]:
    want: Counter[str] = Counter(holders)
    for layer, _ in snap.layers:
        if layer.parent is not None:
            want[layer.parent] += 1
    for rw in snap.rw:
        if rw.parent is not None:
            want[rw.parent] += 1
    return want


def layer_findings(snap: LayerSnapshot, holders: Iterable[str]) -> list[Finding]:
    by_id = {layer.chain_id: layer for layer, _ in snap.layers}
    want = expected_refs(snap, holders)
    out: list[Finding] = []
    for layer, refs in snap.layers:
        obj = layer.chain_id
        if layer.parent is not None and layer.parent not in by_id:
            out.append(Finding(LAYER, obj, f"parent layer {layer.parent} does not exist"))
        if layer.cache_id not in snap.dirs:
            out.append(Finding(LAYER, obj, f"directory {layer.cache_id} is missing"))
        expected = want.get(obj, 0)
        if expected == 0:
            out.append(Finding(LAYER, obj, UNREFERENCED, repairable=True))
        elif refs != expected:
            problem = f"{REFS} is {refs}, {expected} hold it"
            out.append(Finding(LAYER, obj, problem, repairable=True))
    for rw in snap.rw:
        if rw.parent is not None and rw.parent not in by_id:
            out.append(Finding(RW, rw.container_id, f"image layer {rw.parent} does not exist"))
        for d in (rw.init_id, rw.mount_id):
            if d not in snap.dirs and d not in snap.busy:
                out.append(Finding(RW, rw.container_id, f"directory {d} is missing"))
    for holder in sorted(set(holders) - by_id.keys()):
        out.append(Finding(LAYER, holder, "an image's top layer does not exist"))
    known = {layer.cache_id for layer, _ in snap.layers}
    known.update(d for rw in snap.rw for d in (rw.init_id, rw.mount_id))
    for d in sorted(snap.dirs - known - snap.busy):
        out.append(Finding(LAYER, d, NO_RECORD, repairable=True))
    return out


def snapshot(store: Layers) -> LayerSnapshot:
    layers, rw, dirs, busy = store.snapshot()
    return LayerSnapshot(layers, rw, dirs, busy)


def check_layers(store: Layers, holders: list[str], repair: bool) -> list[Finding]:
    found = layer_findings(snapshot(store), holders)
    if not repair:
        return found
    if any(f.problem.startswith(REFS) or f.problem == UNREFERENCED for f in found):
        store.reconcile_refs(holders)  # an unreferenced layer's count drops to 0 first
        store.prune_dangling()
    orphans = [f.target for f in found if f.problem == NO_RECORD]
    if orphans:
        store.remove_orphans(orphans)
    # What is fixed is what a second look no longer finds.
    left = {(f.target, f.problem) for f in layer_findings(snapshot(store), holders)}
    for f in found:
        f.repaired = f.repairable and (f.target, f.problem) not in left
    return found
