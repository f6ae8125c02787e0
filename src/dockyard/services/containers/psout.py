"""`ps` output as dockerd's top reads it: ASCII-whitespace fields, the overhanging ones joined
with one space into the last column (so a command's newlines and runs of blanks read as single
spaces), rows kept for the container's pids and, with `ps -m`, the thread rows ("-" as PID)
that follow one of them."""

from __future__ import annotations

import re

from dockyard import errors

_BLANKS = re.compile(r"[\t\n\f\r ]+")


def _fields(line: str) -> list[str]:
    return [f for f in _BLANKS.split(line) if f]


def parse(output: str, pids: set[int]) -> dict[str, list[list[str]] | list[str]]:
    lines = output.split("\n")
    titles = _fields(lines[0])
    if "PID" not in titles:
        raise errors.System("Couldn't find PID field in ps output")
    pid_col = titles.index("PID")
    procs: list[list[str]] = []
    after_ours = False
    for line in lines[1:]:
        fields = _fields(line)
        if len(fields) <= pid_col:
            continue
        pid = fields[pid_col]
        if pid == "-":
            if after_ours:
                procs.append(_row(fields, len(titles)))
            continue
        if not pid.isdigit():
            raise errors.System(
                f"Unexpected pid '{pid}': strconv.Atoi: parsing \"{pid}\": invalid syntax"
            )
        after_ours = int(pid) in pids
        if after_ours:
            procs.append(_row(fields, len(titles)))
    return {"Titles": titles, "Processes": procs}


def _row(fields: list[str], width: int) -> list[str]:
    return [*fields[: width - 1], " ".join(fields[width - 1 :])]
