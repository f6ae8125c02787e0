"""`.dockerignore` (MISSION S1) with moby/patternmatcher's rules, pure: one pattern a line, `#`
comments, `!` re-includes, patterns are cleaned paths relative to the context root (a leading
`/` is dropped), `*` and `?` never cross `/`, `**` matches any number of directories, and a
pattern that matches a directory matches everything below it. The last matching pattern wins.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Pattern:
    text: str
    exclusion: bool
    regex: re.Pattern[str]
    depth: int  # path components in the pattern: how deep a parent dir can match it


def _translate(pattern: str) -> str:
    out = ["^"]
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            if pattern.startswith("**", i):
                i += 2
                if pattern.startswith("/", i):
                    i += 1
                    out.append("(.*/)?")  # "**/" may match no directory at all
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise ValueError(f"syntax error in pattern: {pattern}")
            body = pattern[i + 1 : end]
            if body.startswith("!") or body.startswith("^"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    out.append("$")
    return "".join(out)


def compile_patterns(lines: list[str]) -> list[Pattern]:
    out: list[Pattern] = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclusion = line.startswith("!")
        if exclusion:
            line = line[1:].strip()
        line = posixpath.normpath(line).lstrip("/") if line else line
        if not line or line == ".":
            continue
        try:
            regex = re.compile(_translate(line))
        except (ValueError, re.error) as e:
            raise ValueError(f'Illegal exclusion pattern: "{raw.strip()}": {e}') from None
        out.append(Pattern(line, exclusion, regex, line.count("/") + 1))
    return out


def parse(text: str) -> list[Pattern]:
    return compile_patterns(text.splitlines())


def excluded(patterns: list[Pattern], path: str) -> bool:
    """Is the context-relative `path` (no leading `./`) excluded?"""
    path = posixpath.normpath(path).lstrip("/")
    parts = path.split("/")
    matched = False
    for p in patterns:
        hit = bool(p.regex.match(path))
        if not hit and len(parts) > 1:
            # A parent directory matching excludes its whole tree (patternmatcher's parentPath).
            for n in range(1, len(parts)):
                if p.regex.match("/".join(parts[:n])):
                    hit = True
                    break
        if hit:
            matched = not p.exclusion
    return matched
