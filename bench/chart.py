"""A small SVG line chart for the benchmarks: one panel per case, one curve per engine.

    write_svg(path, title, sizes, {"case": {"dockyard": [..], "dockerd": [..]}}, unit)

Log-scaled x (container counts), linear y from 0; no plotting library needed for a handful of
polylines (the bench runs from the project's .venv, which carries no matplotlib)."""

from __future__ import annotations

import math
from html import escape
from pathlib import Path

COLOURS = {"dockyard": "#1f77b4", "dockerd": "#d62728"}
W, H, PAD = 300, 190, 42
COLS = 3


def _ticks(top: float) -> list[float]:
    if top <= 0:
        return [0.0]
    step = 10 ** math.floor(math.log10(top))
    for m in (1, 2, 5, 10):
        if top / (step * m) <= 5:
            step *= m
            break
    return [i * step for i in range(int(top / step) + 2) if i * step <= top * 1.0001]


def _panel(x0: int, y0: int, case: str, sizes: list[int], curves: dict[str, list[float]],
           unit: str) -> list[str]:  # fmt: skip
    values = [v for vs in curves.values() for v in vs if v == v]
    top = max(values, default=1.0) * 1.1 or 1.0
    lo, hi = math.log10(min(sizes)), math.log10(max(sizes))

    def px(size: int) -> float:
        return x0 + PAD + (W - PAD - 10) * ((math.log10(size) - lo) / ((hi - lo) or 1))

    def py(v: float) -> float:
        return y0 + H - 24 - (H - 48) * (v / top)

    out = [f'<text x="{x0 + W / 2}" y="{y0 + 14}" text-anchor="middle" '
           f'font-weight="bold">{escape(case)}</text>']  # fmt: skip
    for t in _ticks(top):
        out.append(f'<line x1="{x0 + PAD}" x2="{x0 + W - 10}" y1="{py(t):.1f}" '
                   f'y2="{py(t):.1f}" stroke="#ddd"/>')  # fmt: skip
        out.append(f'<text x="{x0 + PAD - 4}" y="{py(t) + 4:.1f}" text-anchor="end">'
                   f"{t:g}</text>")  # fmt: skip
    for s in sizes:
        out.append(f'<text x="{px(s):.1f}" y="{y0 + H - 8}" text-anchor="middle">{s}</text>')
    out.append(f'<text x="{x0 + 4}" y="{y0 + 30}" font-size="9">{escape(unit)}</text>')
    for engine, vs in curves.items():
        pts = " ".join(f"{px(s):.1f},{py(v):.1f}" for s, v in zip(sizes, vs, strict=False)
                       if v == v)  # fmt: skip
        colour = COLOURS.get(engine, "#555")
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{pts}">'
                   f"<title>{escape(engine)}</title></polyline>")  # fmt: skip
    return out


def write_svg(path: Path, title: str, sizes: list[int],
              cases: dict[str, dict[str, list[float]]], unit: str) -> None:  # fmt: skip
    rows = math.ceil(len(cases) / COLS) or 1
    width, height = COLS * W, rows * H + 40
    body = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-family="sans-serif" font-size="11">',
            f'<text x="8" y="18" font-size="14">{escape(title)}</text>']  # fmt: skip
    for i, engine in enumerate(COLOURS):
        body.append(f'<rect x="{width - 200 + i * 100}" y="8" width="12" height="12" '
                    f'fill="{COLOURS[engine]}"/><text x="{width - 184 + i * 100}" y="18">'
                    f"{engine}</text>")  # fmt: skip
    for i, (case, curves) in enumerate(cases.items()):
        body += _panel((i % COLS) * W, 30 + (i // COLS) * H, case, sizes, curves, unit)
    body.append("</svg>")
    path.write_text("\n".join(body) + "\n")
