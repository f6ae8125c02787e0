"""The network graph (graph.py) as Graphviz's DOT language, written here, and as SVG laid out by
Graphviz's `dot` program (Debian's `graphviz`, run as a subprocess with a timeout: D-graph-2).

Node ids are the model's (`net:<id12>`, `ctr:<id12>`, `port:<ip>:<port>/<proto>`, `host`), so
an SVG's `<title>` elements name them and its edges read `a->b`. Every id and label is a
quoted DOT string: names, aliases and images cannot break out of it."""

from __future__ import annotations

import shutil
import subprocess

from dockyard import errors
from dockyard.network.graph import HOST_NODE, ContainerNode, Graph, NetworkNode

DOT_TIMEOUT = 20.0  # seconds; 100 containers take ~0.2 s


def quote(text: str) -> str:
    """A DOT quoted string whose label shows `text` as it is: backslashes and quotes escaped
    (a backslash starts an escape such as \\n in a label), each newline a centred line break."""
    body = text.replace("\\", "\\\\").replace('"', '\\"')
    body = body.replace("\r", "").replace("\n", "\\n")
    return f'"{body}"'


def _attrs(**attrs: str) -> str:
    return "[" + ", ".join(f"{k}={quote(v)}" for k, v in attrs.items()) + "]"


def _network_label(n: NetworkNode) -> str:
    title = [n.bridge or n.name, f"network {n.name}" + (" (default)" if n.default else "")]
    return "\n".join(title + n.facts())


def _container_label(c: ContainerNode) -> str:
    lines = [c.name, f"{c.image} ({c.state})" if c.image else c.state]
    if c.mode == "none":
        lines.append("network none: lo only")
    elif c.mode == "container":
        lines.append(c.network_mode)
    for e in c.endpoints:
        lines.append(f"{e.ifname} {e.ip}/{e.prefix_len}")
    return "\n".join(lines)


EDGE_STYLE = {
    "endpoint": {"color": "#1f6feb"},
    "port": {"color": "#2da44e", "fontcolor": "#2da44e"},
    "link": {"style": "dashed", "color": "#8250df", "fontcolor": "#8250df"},
    "netns": {"style": "bold", "color": "#bf8700", "fontcolor": "#bf8700"},
    "host": {"style": "bold", "color": "#cf222e"},
}


def to_dot(g: Graph) -> str:
    out = [
        "digraph network {",
        '  graph [rankdir="LR", fontname="Helvetica", nodesep="0.3", ranksep="1.2"];',
        '  node [fontname="Helvetica", fontsize="11"];',
        '  edge [fontname="Helvetica", fontsize="9"];',
    ]
    # The host's netns holds the bridges, the host ends of the veths and the published ports.
    out.append("  subgraph cluster_host {")
    out.append('    graph [label="host network namespace", style="dashed", color="#8c959f", '
               'fontcolor="#57606a"];')  # fmt: skip
    if g.host_members:
        out.append(f"    {quote(HOST_NODE)} " + _attrs(label="host\n(--network host)",
                   shape="box3d", style="filled", fillcolor="#ffebe9"))  # fmt: skip
    for n in g.networks:
        out.append(f"    {quote(n.node)} " + _attrs(
            label=_network_label(n), shape="box3d", style="filled", fillcolor="#ddf4ff"))  # fmt: skip
    seen: set[str] = set()
    for p in (p for c in g.containers for p in c.ports):
        if p.node not in seen:
            seen.add(p.node)
            out.append(f"    {quote(p.node)} " + _attrs(
                label=f"{p.host_ip}:{p.host_port}/{p.proto}", shape="cds",
                style="filled", fillcolor="#dafbe1"))  # fmt: skip
    out.append("  }")
    for c in g.containers:
        out.append(f"  {quote(c.node)} " + _attrs(
            label=_container_label(c), shape="box", style="rounded,filled",
            fillcolor="#f6f8fa" if c.state == "running" else "#eaeef2"))  # fmt: skip
    for e in g.edges:
        style = {"label": e.label, **EDGE_STYLE.get(e.kind, {})}
        out.append(f"  {quote(e.source)} -> {quote(e.target)} " + _attrs(**style))
    out.append("}")
    return "\n".join(out) + "\n"


def to_svg(dot: str, timeout: float = DOT_TIMEOUT) -> bytes:
    """`dot -Tsvg`: 500 with Graphviz's words when it is missing, fails or takes too long."""
    exe = shutil.which("dot")
    if exe is None:
        raise errors.System(
            "rendering SVG needs Graphviz's dot program (Debian: apt-get install graphviz)"
        )
    try:
        p = subprocess.run(
            [exe, "-Tsvg"], input=dot.encode(), capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise errors.System(f"graphviz dot did not lay the graph out in {timeout:g}s") from None
    if p.returncode != 0:
        raise errors.System(f"graphviz dot failed: {p.stderr.decode(errors='replace').strip()}")
    return p.stdout
