"""`system df`: the summary table and the `-v` per-object sections, computed from
GET /system/df the way docker-cli's disk-usage formatter does (shared layers counted once)."""

from __future__ import annotations

from typing import Any

from dockyard.cli.format import HEADERS, ContainerRow, render
from dockyard.cli.imagerows import image_rows
from dockyard.units import human_size

DF_TABLE = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
DF_HEADERS = {
    "Type": "TYPE",
    "TotalCount": "TOTAL",
    "Active": "ACTIVE",
    "Size": "SIZE",
    "Reclaimable": "RECLAIMABLE",
}


def _fmt(total: int, reclaimable: int, percent: bool = True) -> tuple[str, str]:
    size = human_size(total, 4)
    rec = human_size(reclaimable, 4)
    if percent and total > 0:
        rec = f"{rec} ({reclaimable * 100 // total}%)"
    return size, rec


def _active_container(c: dict[str, Any]) -> bool:
    state = str(c.get("State", ""))
    return any(w in state for w in ("running", "paused", "restarting"))


def summary(df: dict[str, Any]) -> list[dict[str, str]]:
    images = df.get("Images") or []
    containers = df.get("Containers") or []
    volumes = df.get("Volumes") or []
    cache = df.get("BuildCache") or []
    layers = int(df.get("LayersSize") or 0)
    used = sum(
        int(i.get("Size") or 0) - int(i.get("SharedSize") or 0)
        for i in images
        if int(i.get("Containers") or 0) != 0 and int(i.get("SharedSize", 0)) != -1
    )
    img_size, img_rec = _fmt(layers, layers - used)
    c_total = sum(int(c.get("SizeRw") or 0) for c in containers)
    c_rec = sum(int(c.get("SizeRw") or 0) for c in containers if not _active_container(c))
    c_size, c_recs = _fmt(c_total, c_rec)
    vol_sizes = [(v.get("UsageData") or {}) for v in volumes]
    v_total = sum(int(u.get("Size") or 0) for u in vol_sizes if int(u.get("Size", 0)) != -1)
    v_rec = sum(
        int(u.get("Size") or 0)
        for u in vol_sizes
        if int(u.get("RefCount") or 0) == 0 and int(u.get("Size", 0)) != -1
    )
    v_size, v_recs = _fmt(v_total, v_rec)
    b_total = sum(int(b.get("Size") or 0) for b in cache if not b.get("Shared"))
    b_rec = sum(
        int(b.get("Size") or 0) for b in cache if not b.get("InUse") and not b.get("Shared")
    )
    b_size, b_recs = _fmt(b_total, b_rec, percent=False)
    return [
        {
            "Type": "Images",
            "TotalCount": str(len(images)),
            "Active": str(sum(1 for i in images if int(i.get("Containers") or 0) > 0)),
            "Size": img_size,
            "Reclaimable": img_rec,
        },
        {
            "Type": "Containers",
            "TotalCount": str(len(containers)),
            "Active": str(sum(1 for c in containers if _active_container(c))),
            "Size": c_size,
            "Reclaimable": c_recs,
        },
        {
            "Type": "Local Volumes",
            "TotalCount": str(len(volumes)),
            "Active": str(sum(1 for u in vol_sizes if int(u.get("RefCount") or 0) > 0)),
            "Size": v_size,
            "Reclaimable": v_recs,
        },
        {
            "Type": "Build Cache",
            "TotalCount": str(len(cache)),
            "Active": str(sum(1 for b in cache if b.get("InUse"))),
            "Size": b_size,
            "Reclaimable": b_recs,
        },
    ]


class _DfImage:
    def __init__(self, row: Any, img: dict[str, Any]) -> None:
        self.row, self.img = row, img

    def __getattr__(self, name: str) -> Any:
        return getattr(self.row, name)

    def SharedSize(self) -> str:
        shared = int(self.img.get("SharedSize", -1))
        return "N/A" if shared == -1 else human_size(shared, 4)

    def UniqueSize(self) -> str:
        shared = int(self.img.get("SharedSize", -1))
        if shared == -1:
            return "N/A"
        return human_size(int(self.img.get("Size") or 0) - shared, 4)


class _DfContainer(ContainerRow):
    def Size(self) -> str:
        return human_size(int(self.c.get("SizeRw") or 0))


def render_df(df: dict[str, Any], verbose: bool, fmt: str, now: float) -> str:
    if not verbose:
        return render(summary(df), fmt or DF_TABLE, DF_HEADERS)
    images = df.get("Images") or []
    rows = []
    for img in images:
        for row in image_rows([img], False, True, now):
            rows.append(_DfImage(row, img))
    out = "Images space usage:\n\n"
    out += render(
        rows,
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
        "\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}",
        {**HEADERS, "ID": "IMAGE ID"},
    )
    out += "\nContainers space usage:\n\n"
    crow = [_DfContainer(c, True, now) for c in df.get("Containers") or []]
    out += render(
        crow,
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}"
        "\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}",
        HEADERS,
    )
    out += "\nLocal Volumes space usage:\n\n"
    vols = [
        {
            "Name": v.get("Name", ""),
            "Links": str((v.get("UsageData") or {}).get("RefCount", 0)),
            "Size": human_size(int((v.get("UsageData") or {}).get("Size") or 0), 4),
        }
        for v in df.get("Volumes") or []
    ]
    out += render(
        vols,
        "table {{.Name}}\t{{.Links}}\t{{.Size}}",
        {"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"},
    )
    cache_total = sum(int(b.get("Size") or 0) for b in df.get("BuildCache") or [])
    out += f"\nBuild cache usage: {human_size(cache_total, 4)}\n\n"
    out += render(
        [],
        "table {{.ID}}\t{{.Type}}\t{{.Size}}\t{{.Created}}\t{{.LastUsed}}\t{{.Usage}}\t{{.Shared}}",
        {
            "ID": "CACHE ID",
            "Type": "CACHE TYPE",
            "Size": "SIZE",
            "Created": "CREATED",
            "LastUsed": "LAST USED",
            "Usage": "USAGE",
            "Shared": "SHARED",
        },
    )
    return out
