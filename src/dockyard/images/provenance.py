"""Layer provenance (B1): which layers of an image added, changed or deleted a path (`explain`),
and what each layer adds, changes and removes with the space later layers waste (`image layers`,
dive's job). Pure: works on the layers' path indexes (storage/layerindex.py) and the config's
history; the service (services/provenance.py) fetches both and adds a container's own layers.

Wasted bytes are the bytes of file versions a later layer overwrites (a changed file, a chmod:
overlay copies the whole file) or deletes (a whiteout, an opaque directory, a directory replaced
by a file). The efficiency score is dive's (wagoodman/dive filetree/efficiency.go): for every
path seen as a leaf in some layer, sum the smallest size it was seen with and divide by the sum
of every size it was seen with; a whiteout weighs what it deleted when that was a directory, 0
for a file; opaque markers are not counted (D-explain-2).
"""

from __future__ import annotations

import posixpath
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dockyard.core.layers import Layer
from dockyard.storage.layerindex import OPAQUE, SYMLINK, WHITEOUT, Entry, Index

KIND_NAMES = {"f": "file", "d": "directory", "O": "directory", "l": "symlink",
              "w": "whiteout", "o": "other"}  # fmt: skip
ADDED, CHANGED, DELETED = "added", "changed", "deleted"
REMOVED = "removed"  # a layer's count of the paths it deleted
TOP_INEFFICIENCIES = 20


@dataclass(frozen=True)
class ImageLayer:
    """One layer of an image with the history entry that made it."""

    index: int
    layer: Layer
    history: dict[str, Any]
    files: Index


def instruction(history: dict[str, Any]) -> str:
    """The Dockerfile instruction of a history entry, as a user wrote it: `RUN apt-get ...`,
    `COPY file:... in /app`; a commit's command or an import's comment otherwise."""
    text = str(history.get("created_by") or "").strip()
    if text.endswith("# buildkit"):  # BuildKit: `RUN /bin/sh -c cmd # buildkit`
        text = text[: -len("# buildkit")].rstrip()
        if text.startswith("RUN /bin/sh -c "):
            text = text[len("RUN ") :]
    if text.startswith("|") and " /bin/sh -c " in text:  # build args: `|1 A=b /bin/sh -c ...`
        text = text[text.index(" /bin/sh -c ") + 1 :]
    if text.startswith("/bin/sh -c "):
        rest = text[len("/bin/sh -c ") :].lstrip()
        if rest.startswith("#(nop)"):
            return rest[len("#(nop)") :].strip()
        return "RUN " + rest
    return text or str(history.get("comment") or "").strip()


def made_by(history: dict[str, Any]) -> str:
    """How a layer was made: `build` (a Dockerfile step, legacy or BuildKit), `import` (no
    command, a comment such as `Imported from -`) or `commit` (a container's command)."""
    text = str(history.get("created_by") or "").strip()
    if not text:
        return "import" if history else ""
    if text.startswith(("/bin/sh -c ", "|")) or text.endswith("# buildkit"):
        return "build"
    return "commit"


def pair_history(
    layers: Sequence[Layer], history: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each layer's history entry: the entries that are not `empty_layer`, in order (the last
    ones when there are more; {} for layers history does not cover)."""
    real = [h for h in history if not h.get("empty_layer")]
    if len(real) > len(layers):
        real = real[len(real) - len(layers) :]
    return [real[i] if i < len(real) else {} for i in range(len(layers))]


def layer_head(il: ImageLayer) -> dict[str, Any]:
    h = il.history
    return {
        "index": il.index,
        "layer": il.layer.chain_id,
        "diff_id": il.layer.diff_id,
        "instruction": instruction(h),
        "made_by": made_by(h),
        "created_by": str(h.get("created_by") or ""),
        "created": str(h.get("created") or ""),
        "comment": str(h.get("comment") or ""),
    }


def entry_doc(e: Entry) -> dict[str, Any]:
    return {
        "type": KIND_NAMES.get(e.kind, "other"),
        "opaque": e.kind == OPAQUE,
        "size": e.size,
        "mode": stat.filemode(e.mode),
        "mtime": e.mtime,
    }


def ancestors(path: str) -> list[str]:
    """`/a/b/c` -> [`/a`, `/a/b`], root first."""
    parts = path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def clean_path(path: str) -> str:
    return posixpath.normpath("/" + path.lstrip("/")).replace("//", "/")


def touch(index: Index, path: str, ups: Sequence[str]) -> tuple[Entry | None, str | None]:
    """What one layer does to `path`: (its own entry, or None) and the ancestor that hides what
    the layers below have at `path` (a whiteout, an opaque directory or a non-directory)."""
    via = None
    for a in ups:
        e = index.get(a)
        if e is None:
            continue
        if e.kind == OPAQUE or not e.is_dir:
            via = a
            if not e.is_dir:
                return None, a  # nothing below a whiteout or a file
    return index.get(path), via


def visible_entry(indexes: Sequence[Index], path: str) -> Entry | None:
    """What the merged view of `indexes` (top first) shows at `path` (its parents resolved)."""
    ups = ancestors(path)
    for index in indexes:
        own, via = touch(index, path, ups)
        if own is not None:
            return None if own.kind == WHITEOUT else own
        if via is not None:
            return None
    return None


def resolve(lookup: Callable[[str], Entry | None], path: str, max_hops: int = 40) -> str:
    """`path` with the symlinks among its parents followed (not the last component, as lstat),
    inside the image's root: `/bin/ls` is `/usr/bin/ls` in a usr-merged image."""
    parts = [p for p in path.split("/") if p]
    cur, i, hops = "", 0, 0
    while i < len(parts) - 1:
        nxt = f"{cur}/{parts[i]}"
        e = lookup(nxt)
        if e is not None and e.kind == SYMLINK and hops < max_hops:
            hops += 1
            base = e.target if e.target.startswith("/") else f"{cur}/{e.target}"
            parts = [p for p in clean_path(f"{base}/{'/'.join(parts[i + 1 :])}").split("/") if p]
            cur, i = "", 0
            continue
        cur, i = nxt, i + 1
    return "/" + "/".join(parts)


def explain_layers(layers: Sequence[ImageLayer], path: str) -> tuple[list[dict[str, Any]], bool]:
    """Every layer that touched `path`, base first, and whether the path is visible on top."""
    ups = ancestors(path)
    visible: Entry | None = None
    out: list[dict[str, Any]] = []
    for il in layers:
        own, via = touch(il.files, path, ups)
        if own is None and (via is None or visible is None):
            continue
        row = layer_head(il)
        if own is None or own.kind == WHITEOUT:
            row["action"] = DELETED
            row.update(entry_doc(own) if own is not None else {"type": "whiteout", "size": 0})
            if own is None:
                row["via"] = via
            visible = None
        else:
            row["action"] = CHANGED if visible is not None else ADDED
            row.update(entry_doc(own))
            if via is not None:
                row["via"] = via
            visible = own
        out.append(row)
    return out, visible is not None


@dataclass
class _Seen:
    """dive's per-path tally: every size a path was seen with as a leaf."""

    cumulative: int = 0
    minimum: int = -1
    count: int = 0

    def add(self, size: int) -> None:
        self.cumulative += size
        self.minimum = size if self.minimum < 0 else min(self.minimum, size)
        self.count += 1


@dataclass
class _Stack:
    """The merged view while layers are stacked: path -> (layer position, entry)."""

    visible: dict[str, tuple[int, Entry]] = field(default_factory=dict)
    kids: dict[str, set[str]] = field(default_factory=dict)

    def put(self, path: str, pos: int, e: Entry) -> None:
        if path not in self.visible:
            self.kids.setdefault(posixpath.dirname(path), set()).add(path)
        self.visible[path] = (pos, e)

    def drop(self, path: str, keep_root: bool = False) -> list[tuple[str, int, Entry]]:
        """Remove `path` (or only what is under it) and return what was removed."""
        gone: list[tuple[str, int, Entry]] = []
        todo = list(self.kids.pop(path, ()))
        while todo:
            p = todo.pop()
            pos, e = self.visible.pop(p)
            gone.append((p, pos, e))
            todo.extend(self.kids.pop(p, ()))
        if not keep_root and path in self.visible:
            pos, e = self.visible.pop(path)
            gone.append((path, pos, e))
            self.kids.get(posixpath.dirname(path), set()).discard(path)
        return gone


def analyze(layers: Sequence[ImageLayer]) -> dict[str, Any]:
    """`image layers`: per layer what it adds, changes and removes, the bytes later layers
    waste, dive's efficiency score and the paths that waste the most."""
    stack = _Stack()
    seen: dict[str, _Seen] = {}
    wasted_by_path: dict[str, list[int]] = {}  # path -> [versions hidden, bytes]
    rows: list[dict[str, Any]] = []
    wasted_in = [0] * len(layers)

    def waste(items: Sequence[tuple[str, int, Entry]]) -> int:
        total = 0
        for p, pos, e in items:
            b = e.file_bytes
            wasted_in[pos] += b
            total += b
            w = wasted_by_path.setdefault(p, [0, 0])
            w[0] += 1
            w[1] += b
        return total

    for pos, il in enumerate(layers):
        counts = {ADDED: 0, CHANGED: 0, REMOVED: 0}
        sizes = {ADDED: 0, CHANGED: 0, REMOVED: 0}
        replaced: set[str] = set()  # paths an opaque dir of this layer hid
        parents = {posixpath.dirname(p) for p in il.files}
        for path, e in il.files.items():
            prev = stack.visible.get(path)
            if e.kind == WHITEOUT:
                gone = stack.drop(path)
                dive_size = sum(x.file_bytes for _, _, x in gone) if prev and prev[1].is_dir else 0
                seen.setdefault(path, _Seen()).add(dive_size)
                if gone:
                    counts[REMOVED] += 1
                    sizes[REMOVED] += waste(gone)
                continue
            if path not in parents:  # a leaf of this layer's tree, as dive visits them
                seen.setdefault(path, _Seen()).add(e.file_bytes)
            if prev is not None and (not e.is_dir or not prev[1].is_dir or e.kind == OPAQUE):
                # replaced: a new version of a file, or a directory emptied or turned into one
                hidden = stack.drop(path, keep_root=e.is_dir and prev[1].is_dir)
                if e.kind == OPAQUE and prev[1].is_dir:
                    replaced.update(p for p, _, _ in hidden)
                    top = {p for p, _, _ in hidden if posixpath.dirname(p) == path}
                    counts[REMOVED] += sum(1 for p in top if p not in il.files)
                    sizes[REMOVED] += sum(x.file_bytes for p, _, x in hidden if p not in il.files)
                    waste(hidden)
                else:
                    waste(hidden)  # the old version, and all under it if it was a directory
                    counts[CHANGED] += 1
                    sizes[CHANGED] += e.file_bytes
            elif prev is not None:
                if stat.S_IMODE(prev[1].mode) != stat.S_IMODE(e.mode):
                    counts[CHANGED] += 1  # a chmod'ed directory
            elif path in replaced:
                counts[CHANGED] += 1
                sizes[CHANGED] += e.file_bytes
            else:
                counts[ADDED] += 1
                sizes[ADDED] += e.file_bytes
            stack.put(path, pos, e)
        row = layer_head(il)
        row.update(size=il.layer.size, files=counts, bytes=sizes)
        rows.append(row)
    for pos, row in enumerate(rows):
        row["wasted_bytes"] = wasted_in[pos]
    minimum = sum(s.minimum for s in seen.values())
    cumulative = sum(s.cumulative for s in seen.values())
    size = sum(il.layer.size for il in layers)
    user_size = size - (layers[0].layer.size if layers else 0)
    wasted = sum(wasted_in)
    worst = sorted(wasted_by_path.items(), key=lambda kv: (-kv[1][1], kv[0]))
    return {
        "size": size,
        "user_size": user_size,
        "wasted_bytes": wasted,
        "wasted_percent": round(100.0 * wasted / user_size, 2) if user_size else 0.0,
        "efficiency": (minimum / cumulative) if cumulative else 1.0,
        # dive's "inefficient bytes": every size of each path seen more than once, kept ones too
        "dive_wasted_bytes": sum(s.cumulative for s in seen.values() if s.count > 1),
        "layers": rows,
        "inefficiencies": [
            {"path": p, "versions_hidden": n, "wasted_bytes": b}
            for p, (n, b) in worst[:TOP_INEFFICIENCIES]
            if b > 0
        ],
    }
