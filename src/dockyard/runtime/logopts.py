"""Log drivers and their options (`--log-driver`, `--log-opt`), checked with dockerd's rules and
wording (moby daemon/logger: factory.go ValidateLogOpts, jsonfilelog, local). The shim writes the
files (runtime/shim/shim.c); runtime/logs.py reads them back.

    json-file  `<id>-json.log`, one JSON object a line; rotation only with max-size
    local      `local-logs/container.log`, protobuf entries framed by their length (D-logs-1);
               rotated at 20 MiB into 5 files, the rotated ones gzip'd, unless told otherwise
    none       nothing is kept; `docker logs` is refused

dockerd checks the option names at create and their values when the logger starts; both are
checked at create here, so a bad value leaves no container behind (D-logs-2).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from dockyard import errors

JSON_FILE, LOCAL, NONE = "json-file", "local", "none"
DRIVERS = (JSON_FILE, LOCAL, NONE)
# Options every driver takes (dockerd strips them before the driver's own check).
BUILTIN = {"mode", "max-buffer-size"}
_ATTRS = {"labels", "labels-regex", "env", "env-regex", "tag"}  # change nothing in our files
KNOWN = {"max-size", "max-file", "compress", *_ATTRS}  # json-file's and local's options
LOCAL_MAX_SIZE = 20 * 1024 * 1024
LOCAL_MAX_FILES = 5
_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?\s*$", re.IGNORECASE)
T = TypeVar("T")
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


@dataclass(frozen=True)
class LogSettings:
    """What the shim is told and the reader needs: the driver and its rotation."""

    driver: str = JSON_FILE
    max_size: int = 0  # bytes; 0 = never rotate
    max_files: int = 1  # the live file included
    compress: bool = False  # gzip rotated files (`<file>.N.gz`)

    @property
    def readable(self) -> bool:
        return self.driver != NONE


def log_file(container_dir: Path, cid: str, driver: str) -> str:
    """Where the driver keeps the container's log: dockerd's names; "" for none."""
    if driver == LOCAL:
        return str(container_dir / "local-logs" / "container.log")
    return "" if driver == NONE else str(container_dir / f"{cid}-json.log")


def human_size(text: str) -> int:
    m = _SIZE.match(text)
    if not m:
        raise errors.InvalidParameter(f"invalid size: '{text}'")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def _atoi(text: str) -> int:
    try:
        return int(text, 10)
    except ValueError:
        raise errors.InvalidParameter(f'strconv.Atoi: parsing "{text}": invalid syntax') from None


def _parse_bool(text: str) -> bool:
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise errors.InvalidParameter(f'strconv.ParseBool: parsing "{text}": invalid syntax')


def validate_names(driver: str, opts: dict[str, str]) -> None:
    """dockerd's ValidateLogOpts: the driver must exist, the option names must be its own."""
    if driver == NONE:
        return
    mode = opts.get("mode", "")
    if mode not in ("", "blocking", "non-blocking"):
        raise errors.InvalidParameter(f"logger: logging mode not supported: {mode}")
    if "max-buffer-size" in opts and mode != "non-blocking":
        raise errors.InvalidParameter(
            "logger: max-buffer-size option is only supported with 'mode=non-blocking'"
        )
    if driver not in DRIVERS:
        raise errors.InvalidParameter(
            f'error looking up logging plugin {driver}: plugin "{driver}" not found'
        )
    for key in opts:
        if key in BUILTIN or key in KNOWN:
            continue
        if driver == LOCAL:
            raise errors.InvalidParameter(f"unknown log opt '{key}' for log driver {LOCAL}")
        raise errors.InvalidParameter(f"unknown log opt '{key}' for {JSON_FILE} log driver")


def _json_file(opts: dict[str, str]) -> LogSettings:
    size = 0
    if "max-size" in opts:
        size = human_size(opts["max-size"])
        if size <= 0:
            raise errors.InvalidParameter("max-size must be a positive number")
    files = 1
    if "max-file" in opts:  # without max-size it is accepted and changes nothing, as dockerd
        files = _atoi(opts["max-file"])
        if files < 1:
            raise errors.InvalidParameter("max-file cannot be less than 1")
    compress = _parse_bool(opts["compress"]) if "compress" in opts else False
    if compress and (files == 1 or size == 0):
        raise errors.InvalidParameter(
            "compress cannot be true when max-file is less than 2 or max-size is not set"
        )
    return LogSettings(JSON_FILE, size, files if size else 1, compress)


def _local_value(opts: dict[str, str], key: str, parse: Callable[[str], T], default: T) -> T:
    """One of local's options; its error in local's words (`invalid value for max-size: ...`)."""
    if key not in opts:
        return default
    prefix = (
        "error reading compress log option"
        if key == "compress"
        else (f"invalid value for {key}: {opts[key]}")
    )
    try:
        return parse(opts[key])
    except errors.InvalidParameter as e:
        raise errors.InvalidParameter(f"{prefix}: {e.message}") from None


def _local(opts: dict[str, str]) -> LogSettings:
    size = _local_value(opts, "max-size", human_size, LOCAL_MAX_SIZE)
    files = _local_value(opts, "max-file", _atoi, LOCAL_MAX_FILES)
    compress = _local_value(opts, "compress", _parse_bool, True)
    if files < 0:
        raise errors.InvalidParameter("max file count cannot be less than 0")
    if compress and files <= 1:
        raise errors.InvalidParameter("compression cannot be enabled when max file count is 1")
    return LogSettings(LOCAL, size, max(files, 1), compress)


def parse(log_config: dict[str, Any] | None) -> LogSettings:
    """Validate a HostConfig.LogConfig (names and values); InvalidParameter (400) as dockerd."""
    cfg = log_config or {}
    driver = cfg.get("Type") or JSON_FILE
    opts: dict[str, str] = cfg.get("Config") or {}
    validate_names(driver, opts)
    if driver == NONE:
        return LogSettings(NONE)
    return _local(opts) if driver == LOCAL else _json_file(opts)


def merge(
    log_config: dict[str, Any] | None, default_driver: str, default_opts: dict[str, str]
) -> dict[str, Any]:
    """The LogConfig a container keeps (inspect shows it): an empty Type takes the daemon's
    driver, and a container of the daemon's driver takes the daemon's options it does not set
    itself (dockerd's mergeAndVerifyLogConfig). Validated."""
    cfg = dict(log_config or {})
    driver = cfg.get("Type") or default_driver
    opts = dict(cfg.get("Config") or {})
    if driver == default_driver:
        for k, v in default_opts.items():
            opts.setdefault(k, v)
    merged = {"Type": driver, "Config": opts}
    parse(merged)
    return merged


def daemon_default(driver: str, pairs: list[str]) -> tuple[str, tuple[tuple[str, str], ...]]:
    """`--log-driver` and `--log-opt k=v...` (or daemon.json's `log-driver`/`log-opts`) checked
    as dockerd does at start; ValueError carries its words."""
    opts: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"invalid key value pair format in driver options: {pair}")
        opts[key] = value
    try:
        parse({"Type": driver, "Config": opts})
    except errors.DockyardError as e:
        raise ValueError(f"failed to set log opts: {e.message}") from None
    return driver, tuple(opts.items())
