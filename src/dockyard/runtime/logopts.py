"""The json-file log driver's options (`--log-opt max-size=10m --log-opt max-file=3`), checked and
parsed with Docker's rules and wording. The shim applies them (runtime/shim/shim.c rotate_log);
runtime/logs.py reads the rotated files back.

    max-size   a size with decimal units as Docker's units.FromHumanSize ("10m" = 10,000,000)
    max-file   how many files at most, the live one included; only with max-size
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from dockyard import errors

DRIVER = "json-file"
# what dockerd's json-file accepts (the label/env/tag ones change nothing in our files)
KNOWN = {"max-size", "max-file", "compress", "labels", "labels-regex", "env", "env-regex", "tag"}
_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Rotation:
    max_size: int = 0  # bytes; 0 = never rotate
    max_files: int = 1


def human_size(text: str) -> int:
    m = _SIZE.match(text)
    if not m:
        raise errors.InvalidParameter(f"invalid size: '{text}'")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def parse(log_config: dict[str, Any] | None) -> Rotation:
    """Validate a HostConfig.LogConfig; raises InvalidParameter (400) as dockerd does."""
    cfg = log_config or {}
    if (cfg.get("Type") or DRIVER) != DRIVER:
        return Rotation()
    opts: dict[str, str] = cfg.get("Config") or {}
    for key in opts:
        if key not in KNOWN:
            raise errors.InvalidParameter(f"unknown log opt '{key}' for {DRIVER} log driver")
    size = 0
    if "max-size" in opts:
        size = human_size(opts["max-size"])
        if size <= 0:
            raise errors.InvalidParameter("max-size must be a positive number")
    files = 1
    if "max-file" in opts:
        try:
            files = int(opts["max-file"])
        except ValueError:
            raise errors.InvalidParameter(
                f'strconv.Atoi: parsing "{opts["max-file"]}": invalid syntax'
            ) from None
        if files < 1:
            raise errors.InvalidParameter("max-file cannot be less than 1")
        if files > 1 and size == 0:
            raise errors.InvalidParameter("max-file cannot be set when max-size is not set")
    return Rotation(size, files)
