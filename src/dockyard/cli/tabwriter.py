"""Go's text/tabwriter as docker-cli configures it (minwidth 10, tabwidth 1, padding 3, pad ' ',
no flags): tab-terminated cells are aligned per column block; a line's last cell is not padded."""

from __future__ import annotations

import unicodedata

MIN_WIDTH = 10
PADDING = 3


def _width(text: str) -> int:
    # tabwriter counts runes; combining marks take no column.
    return sum(0 if unicodedata.combining(ch) else 1 for ch in text)


def align(text: str, minwidth: int = MIN_WIDTH, padding: int = PADDING) -> str:
    """Align `text` (lines of tab-separated cells) exactly like tabwriter.Writer.Flush."""
    trailing_newline = text.endswith("\n")
    raw_lines = text.split("\n")
    if trailing_newline:
        raw_lines.pop()
    lines = [line.split("\t") for line in raw_lines]
    out: list[str] = []
    col_widths: list[int] = []

    def write_lines(line0: int, line1: int) -> None:
        for i in range(line0, line1):
            cells = lines[i]
            parts: list[str] = []
            for j, cell in enumerate(cells):
                if j < len(cells) - 1 and j < len(col_widths):
                    parts.append(cell + " " * (col_widths[j] - _width(cell)))
                else:
                    parts.append(cell)
            out.append("".join(parts))

    def fmt(pos: int, line0: int, line1: int) -> int:
        col = len(col_widths)
        this = line0
        while this < line1:
            if col >= len(lines[this]) - 1:
                this += 1
                continue
            # A column block starts here: flush what precedes it with the current widths.
            write_lines(pos, this)
            pos = this
            block_start = this
            width = minwidth
            while this < line1 and col < len(lines[this]) - 1:
                width = max(width, _width(lines[this][col]) + padding)
                this += 1
            col_widths.append(width)
            pos = fmt(pos, block_start, this)
            col_widths.pop()
        write_lines(pos, line1)
        return line1

    fmt(0, 0, len(lines))
    result = "\n".join(out)
    return result + "\n" if trailing_newline else result
