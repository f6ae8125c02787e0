"""The `explain` and `image layers` tables (B1) rendered from the endpoints' JSON shapes."""

from __future__ import annotations

from dockyard.cli.explain import explain_table, layers_table

COPY = "COPY file:" + "ab" * 32 + " in /app/config.json"


def test_explain_table() -> None:
    doc = {
        "path": "/bin/cfg",
        "resolved": "/usr/bin/cfg",
        "layers": [
            {"index": 1, "layer": "sha256:1", "action": "added", "type": "file", "size": 1500,
             "mode": "-rw-r--r--", "mtime": 0, "instruction": COPY},
            {"index": 3, "layer": "sha256:3", "action": "deleted", "via": "/usr/bin",
             "type": "whiteout", "size": 0, "instruction": "RUN rm -rf /usr/bin"},
            {"index": 5, "layer": "container", "action": "added", "type": "file", "size": 2,
             "mode": "-rw-------", "mtime": 86400, "instruction": "container layer"},
        ],
        "visible": {"exists": True, "from": "container"},
    }  # fmt: skip
    assert explain_table(doc).splitlines() == [
        "/bin/cfg (resolved: /usr/bin/cfg): visible, from the container",
        "LAYER       ACTION                   TYPE       SIZE      MODE         MTIME"
        "                  CREATED BY",
        "1           added                    file       1.5kB     -rw-r--r--   1970-01-01T00:00:00Z"
        "   COPY file:abababababab in /app/config.json",
        "3           deleted (via /usr/bin)   whiteout   0B" + " " * 44 + "RUN rm -rf /usr/bin",
        "container   added                    file       2B        -rw-------   1970-01-02T00:00:00Z"
        "   container layer",
    ]
    assert COPY in explain_table(doc, trunc=False)
    doc["visible"] = {"exists": True, "from": "volume",
                      "mount": {"type": "volume", "destination": "/usr", "source": "/x",
                                "name": "v"}}  # fmt: skip
    assert explain_table(doc).startswith(
        "/bin/cfg (resolved: /usr/bin/cfg): visible, from the volume mounted at /usr from v\n"
    )
    assert explain_table({"path": "/x", "layers": [], "visible": {"exists": False}}) == (
        "/x: in no layer\nLAYER     ACTION    TYPE      SIZE      MODE      MTIME     CREATED BY\n"
    )


def test_layers_table() -> None:
    row = {"index": 0, "size": 2_000_000, "files": {"added": 9, "changed": 1, "removed": 2},
           "wasted_bytes": 1000, "instruction": "RUN " + "x" * 80}  # fmt: skip
    doc = {"layers": [row], "size": 2_000_000, "wasted_bytes": 1000, "wasted_percent": 0.05,
           "efficiency": 0.9991, "inefficiencies": [{"path": "/a", "versions_hidden": 2,
                                                      "wasted_bytes": 1000}]}  # fmt: skip
    assert layers_table(doc).splitlines() == [
        "LAYER     SIZE      ADDED     CHANGED   REMOVED   WASTED    INSTRUCTION",
        "0         2MB       9         1         2         1kB       RUN " + "x" * 53 + "...",
        "",
        "Total size: 2MB  Wasted: 1kB (0.05% of the layers above the base)  Efficiency: 99.91%",
        "",
        "WASTED    VERSIONS   PATH",
        "1kB       2          /a",
    ]
    assert "x" * 80 in layers_table(doc, trunc=False)
