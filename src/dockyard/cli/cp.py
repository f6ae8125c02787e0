"""`dockyard cp` (S11): docker-cli's copy between a container and the local filesystem.

The daemon only stats, tars and untars inside one directory; the CLI decides what goes where
(cli/cprules.py: trailing "/" and "/.", `-L`, PrepareArchiveCopy). Local extraction goes
through storage/copyarchive.py, so a container cannot plant a symlink that makes us write
outside the destination directory.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import stat
import sys
from collections.abc import Iterator
from typing import Any, BinaryIO, cast

from dockyard.cli import cplocal as local
from dockyard.cli import cprules as rules
from dockyard.cli.client import APIError, quote_path
from dockyard.cli.command import CLIError, Command, Parser, Session
from dockyard.errors import DockyardError
from dockyard.storage import copyarchive as ca
from dockyard.storage import copytar as ct
from dockyard.storage.beneath import open_below

STAT_HEADER = "X-Docker-Container-Path-Stat"


def _flags(p: Parser) -> None:
    p.add_argument("-L", "--follow-link", action="store_true")
    p.add_argument("-a", "--archive", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true", default=None)
    p.add_argument("source")
    p.add_argument("destination")


def _run(ns: argparse.Namespace, s: Session) -> int:
    if not ns.source:
        raise CLIError("source can not be empty")
    if not ns.destination:
        raise CLIError("destination can not be empty")
    quiet = ns.quiet if ns.quiet is not None else not sys.stdout.isatty()
    src_ctr, src_path = rules.split_cp_arg(ns.source)
    dst_ctr, dst_path = rules.split_cp_arg(ns.destination)
    try:
        if src_ctr and dst_ctr:
            raise CLIError("copying between containers is not supported")
        if src_ctr:
            return _from_container(s, src_ctr, src_path, dst_path, ns.follow_link, quiet)
        if dst_ctr:
            return _to_container(s, dst_ctr, src_path, dst_path, ns, quiet)
        raise CLIError("must specify at least one container source")
    except rules.CopyRuleError as exc:
        raise CLIError(str(exc)) from None
    except OSError as exc:
        raise CLIError(_go_os_error(exc)) from None


def _go_os_error(exc: OSError) -> str:
    op = {2: "lstat", 20: "lstat"}.get(exc.errno or 0, "open")
    return f"{op} {exc.filename}: {(exc.strerror or str(exc)).lower()}"


def _stat(s: Session, container: str, path: str) -> dict[str, Any]:
    resp = s.client.request("HEAD", f"/containers/{quote_path(container)}/archive", {"path": path})
    resp.read()
    return _decode_stat(resp.getheader(STAT_HEADER) or "")


def _decode_stat(raw: str) -> dict[str, Any]:
    doc = json.loads(base64.b64decode(raw)) if raw else {}
    return doc if isinstance(doc, dict) else {}


def human_size(n: float) -> str:
    """go-units HumanSizeWithPrecision(n, 3): decimal units, three significant digits."""
    units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
    i = 0
    while n >= 1000 and i < len(units) - 1:
        n /= 1000
        i += 1
    return f"{n:.3g}{units[i]}"


def _local_abs(path: str) -> str:
    return rules.preserve_trailing(os.path.abspath(path), path)


# ---- from a container ---------------------------------------------------------------------


def _validate_output_path(path: str) -> None:
    parent = rules.go_dir(rules.go_clean(path))
    if not os.path.isdir(parent):
        raise CLIError(f'invalid output path: directory "{parent}" does not exist')
    try:
        st = os.stat(path)
    except OSError:
        return
    if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
        raise CLIError(f'invalid output path: "{path}" must be a directory or a regular file')


def _from_container(
    s: Session, container: str, src: str, dst: str, follow: bool, quiet: bool
) -> int:
    if dst != "-":
        dst = _local_abs(dst)
        _validate_output_path(dst)
    rebase_to = ""
    if follow:
        try:
            info = _stat(s, container, src)
        except APIError:
            info = {}
        if info.get("mode", 0) & ct.GO_SYMLINK:
            target = rules.link_target_path(src, info.get("linkTarget") or "")
            src, rebase_to = rules.rebase_name(src, target)
    resp = s.client.request("GET", f"/containers/{quote_path(container)}/archive", {"path": src})
    doc = _decode_stat(resp.getheader(STAT_HEADER) or "")
    if dst == "-":
        out = sys.stdout.buffer
        while chunk := resp.read(1 << 20):
            out.write(chunk)
        out.flush()
        return 0
    src_info = rules.CopyInfo(src, True, bool(doc.get("mode", 0) & ct.GO_DIR), rebase_to)
    dst_info = local.destination_info(dst)
    placement = rules.prepare_archive_copy(src_info, dst_info)
    _, src_base = rules.split_path_dir_entry(src)

    def rename(name: str) -> str:
        if rebase_to:
            name = rules.rebase(name, src_base, rebase_to)
        return placement.name(name)

    counted = _Counting(resp)
    root_fd = os.open(placement.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        opts = ca.ExtractOptions(True, None, False, placement.directory, rename)
        ca.extract(
            cast(BinaryIO, counted),
            lambda parts, create: open_below(root_fd, parts, create),
            opts,
        )
    except DockyardError as exc:
        raise CLIError(str(exc)) from None
    finally:
        os.close(root_fd)
    if not quiet:
        size = counted.total if doc.get("mode", 0) & ct.GO_DIR else int(doc.get("size", 0))
        s.err.write(_summary(size, counted.total, dst))
    return 0


def _summary(content: int, transferred: int, dest: str) -> str:
    if content != transferred:
        return (
            f"Successfully copied {human_size(content)} (transferred "
            f"{human_size(transferred)}) to {dest}\n"
        )
    return f"Successfully copied {human_size(content)} to {dest}\n"


class _Counting:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.total = 0

    def read(self, n: int = -1) -> bytes:
        data: bytes = self.inner.read(n)
        self.total += len(data)
        return data


class _Reader:
    """A generator as the file-like body http.client streams (chunked). It hands out whole
    chunks whatever size is asked: http.client sends what it gets, and 8 KiB reads would
    make a 100 MiB copy take thousands of round trips through this method."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks

    def read(self, n: int = -1) -> bytes:
        return next(self.chunks, b"")


# ---- to a container -----------------------------------------------------------------------


def _to_container(
    s: Session, container: str, src: str, dst: str, ns: argparse.Namespace, quiet: bool
) -> int:
    if src != "-":
        src = _local_abs(src)
    dst_info = rules.CopyInfo(dst)
    try:
        info = _stat(s, container, dst)
        if info.get("mode", 0) & ct.GO_SYMLINK:
            target = rules.link_target_path(dst, info.get("linkTarget") or "")
            dst_info = rules.CopyInfo(target)
            info = _stat(s, container, target)
        mode = int(info.get("mode", 0))
        if mode & (ct.GO_DEVICE | ct.GO_PIPE | ct.GO_SOCKET | ct.GO_SYMLINK):
            raise CLIError(f'destination "{container}:{dst}" must be a directory or a regular file')
        dst_info = rules.CopyInfo(dst_info.path, True, bool(mode & ct.GO_DIR))
    except APIError:
        pass  # a missing destination may still be created in its (existing) parent
    query: dict[str, Any] = {"noOverwriteDirNonDir": "true"}
    if ns.archive:
        query["copyUIDGID"] = "true"
    path = quote_path(container)
    headers = {"Content-Type": "application/x-tar"}
    if src == "-":
        if not dst_info.is_dir:
            raise CLIError(f'destination "{container}:{dst}" must be a directory')
        query["path"] = dst_info.path
        s.client.request(
            "PUT", f"/containers/{path}/archive", query, sys.stdin.buffer, headers
        ).read()
        return 0
    src_info = local.source_info(src, ns.follow_link)
    placement = rules.prepare_archive_copy(src_info, dst_info)
    _, base = rules.split_path_dir_entry(src_info.path)
    top = placement.name(src_info.rebase_name or base)
    query["path"] = placement.directory
    sent = [0]

    def body() -> Iterator[bytes]:
        for chunk in local.local_tar(src_info, top):
            sent[0] += len(chunk)
            yield chunk

    s.client.request("PUT", f"/containers/{path}/archive", query, _Reader(body()), headers).read()
    if not quiet:
        s.err.write(
            _summary(local.content_size(src_info.path), sent[0], f"{container}:{dst_info.path}")
        )
    return 0


COMMANDS = {
    "cp": Command(
        "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tdockyard cp [OPTIONS] SRC_PATH|- "
        "CONTAINER:DEST_PATH",
        _flags,
        _run,
    ),
}
