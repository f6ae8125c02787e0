"""Rows of `ps` as docker-cli's formatter computes them from the API's JSON, the value helpers
every listing shares (ids, times, ports), and the table/custom/json rendering of `--format`.
Image and history rows are in cli/imagerows.py."""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Iterable, Mapping
from typing import Any

from dockyard.cli.tabwriter import align
from dockyard.cli.template import parse
from dockyard.units import human_duration, human_size

PS_TABLE = (
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
)

HEADERS = {
    "ID": "CONTAINER ID",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED",
    "Ports": "PORTS",
    "State": "STATE",
    "Status": "STATUS",
    "Size": "SIZE",
    "Names": "NAMES",
    "Labels": "LABELS",
    "Mounts": "MOUNTS",
    "LocalVolumes": "LOCAL VOLUMES",
    "Networks": "NETWORKS",
    "Repository": "REPOSITORY",
    "Tag": "TAG",
    "Digest": "DIGEST",
    "CreatedSince": "CREATED",
    "CreatedBy": "CREATED BY",
    "Comment": "COMMENT",
    "Containers": "CONTAINERS",
    "VirtualSize": "VIRTUAL SIZE",
    "SharedSize": "SHARED SIZE",
    "UniqueSize": "UNIQUE SIZE",
}


def truncate_id(ident: str) -> str:
    """stringid.TruncateID: drop the algorithm prefix, keep 12 hex digits."""
    return ident.split(":", 1)[-1][:12]


def ellipsis(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def go_quote(text: str) -> str:
    """strconv.Quote for the printable text commands usually hold."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def since(created: float, now: float | None = None) -> str:
    return human_duration((now if now is not None else time.time()) - created) + " ago"


def unix_string(ts: float) -> str:
    """time.Unix(ts).String() in the local zone, e.g. `2026-11-29 05:43:46 +0000 UTC`."""
    local = _dt.datetime.fromtimestamp(int(ts)).astimezone()
    return local.strftime("%Y-%m-%d %H:%M:%S %z ") + (local.tzname() or "")


def rfc3339(ts: float) -> str:
    """time.Unix(ts).Format(time.RFC3339): local zone, `Z` for UTC."""
    text = _dt.datetime.fromtimestamp(int(ts)).astimezone().isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def display_ports(ports: Iterable[Mapping[str, Any]]) -> str:
    """api.DisplayablePorts, without folding port ranges."""
    shown: list[str] = []
    for p in sorted(
        ports, key=lambda p: (p.get("Type", ""), p.get("PrivatePort", 0), p.get("IP", ""))
    ):
        proto = p.get("Type", "tcp")
        if p.get("PublicPort"):
            ip = p.get("IP", "")
            host = f"[{ip}]" if ":" in ip else ip
            shown.append(f"{host}:{p['PublicPort']}->{p['PrivatePort']}/{proto}")
        else:
            shown.append(f"{p.get('PrivatePort')}/{proto}")
    return ", ".join(dict.fromkeys(shown))


class ContainerRow:
    """One `ps` row; attribute names are the template fields docker documents."""

    def __init__(self, c: Mapping[str, Any], trunc: bool = True, now: float | None = None) -> None:
        self.c, self.trunc, self.now = c, trunc, now

    def ID(self) -> str:
        cid = str(self.c.get("Id", ""))
        return truncate_id(cid) if self.trunc else cid

    def Image(self) -> str:
        image = str(self.c.get("Image") or "")
        if not image:
            return "<no image>"
        if self.trunc:
            if image.startswith("sha256:") or truncate_id(str(self.c.get("ImageID", ""))) == image:
                return truncate_id(image)
            image = image.split("@", 1)[0]
        return image

    def Command(self) -> str:
        cmd = str(self.c.get("Command", ""))
        return go_quote(ellipsis(cmd, 20) if self.trunc else cmd)

    def CreatedAt(self) -> str:
        return unix_string(float(self.c.get("Created", 0)))

    def RunningFor(self) -> str:
        return since(float(self.c.get("Created", 0)), self.now)

    def Ports(self) -> str:
        return display_ports(self.c.get("Ports") or [])

    def State(self) -> str:
        return str(self.c.get("State", ""))

    def Status(self) -> str:
        return str(self.c.get("Status", ""))

    def Size(self) -> str:
        rw = int(self.c.get("SizeRw") or 0)
        root = int(self.c.get("SizeRootFs") or 0)
        text = human_size(rw)
        return f"{text} (virtual {human_size(root)})" if root > 0 else text

    def Names(self) -> str:
        names = [n[1:] if n.startswith("/") else n for n in self.c.get("Names") or []]
        if self.trunc:
            plain = [n for n in names if "/" not in n]
            names = plain[:1] or names
        return ",".join(names)

    def Labels(self) -> str:
        labels = self.c.get("Labels") or {}
        return ",".join(f"{k}={v}" for k, v in labels.items())

    def Mounts(self) -> str:
        names = [m.get("Name") or m.get("Source", "") for m in self.c.get("Mounts") or []]
        return ",".join(ellipsis(n, 15) if self.trunc else n for n in names)

    def LocalVolumes(self) -> str:
        mounts = self.c.get("Mounts") or []
        return str(sum(1 for m in mounts if m.get("Driver") == "local"))

    def Networks(self) -> str:
        nets = (self.c.get("NetworkSettings") or {}).get("Networks") or {}
        return ",".join(sorted(nets))

    def as_json(self) -> dict[str, str | None]:
        keys = [
            "Command",
            "CreatedAt",
            "ID",
            "Image",
            "Labels",
            "LocalVolumes",
            "Mounts",
            "Names",
            "Networks",
        ]
        out: dict[str, str | None] = {k: getattr(self, k)() for k in keys}
        out["Platform"] = None
        for k in ["Ports", "RunningFor", "Size", "State", "Status"]:
            out[k] = getattr(self, k)()
        return out


def render(rows: Iterable[Any], fmt: str, headers: Mapping[str, str] = HEADERS) -> str:
    """Render rows like formatter.Context: `table ...` gets a header and tabwriter alignment,
    `json` is one JSON object per line, anything else is a plain template per row."""
    if fmt == "json":
        fmt = "{{json .}}"
    table = fmt.startswith("table")
    body = fmt[len("table") :] if table else fmt
    body = body.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    tmpl = parse(body)
    out = [tmpl.execute(row) + "\n" for row in rows]
    if not table:
        return "".join(out)
    header = tmpl.execute(dict(headers)) if body else ""
    return align(header + "\n" + "".join(out))
