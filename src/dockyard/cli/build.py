"""`dockyard build` (MISSION S1, E2): the docker CLI's legacy builder client. The context
directory is sent as a tar with `.dockerignore` applied here (so ignored files never travel),
the Dockerfile and .dockerignore always included, as the docker CLI does; the progress stream is
printed as it arrives; a failing step exits with its code."""

from __future__ import annotations

import argparse
import io
import os
import secrets
import sys
import tarfile
import tempfile
from typing import IO, Any

from dockyard.cli.command import CLIError, Command, Parser, Session


def _flags(p: Parser) -> None:
    p.add_argument("-t", "--tag", action="append", default=[])
    p.add_argument("-f", "--file", default="")
    p.add_argument("--build-arg", action="append", default=[])
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--target", default="")
    p.add_argument("--label", action="append", default=[])
    p.add_argument("--rm", default="true")
    p.add_argument("--force-rm", action="store_true")
    p.add_argument("--pull", action="store_true")
    p.add_argument("--network", default="")
    p.add_argument("path", metavar="PATH | URL | -")


def human_size(n: float) -> str:
    """go-units HumanSize: decimal units, four significant digits."""
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    i = 0
    while n >= 1000 and i < len(units) - 1:
        n /= 1000
        i += 1
    return f"{n:.4g}{units[i]}"


def _add_tree(tf: tarfile.TarFile, root: str, keep: set[str]) -> None:
    from dockyard.dockerfile import ignore

    patterns: list[ignore.Pattern] = []
    ignore_file = os.path.join(root, ".dockerignore")
    if os.path.isfile(ignore_file):
        with open(ignore_file, errors="replace") as f:
            try:
                patterns = ignore.parse(f.read())
            except ValueError as e:
                raise CLIError(f"error checking context: {e}") from None
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        for name in sorted(dirnames + filenames):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            full = os.path.join(dirpath, name)
            if rel not in keep and patterns and ignore.excluded(patterns, rel):
                is_dir = os.path.isdir(full) and not os.path.islink(full)
                # A re-included path below keeps the walk going into an excluded directory.
                if not (is_dir and any(p.exclusion for p in patterns)):
                    if name in dirnames:
                        dirnames.remove(name)
                    continue
                if is_dir:
                    continue
            ti = tf.gettarinfo(full, arcname=rel)
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = ""
            if ti.isreg():
                with open(full, "rb") as f:
                    tf.addfile(ti, f)
            elif ti.isdir() or ti.issym() or ti.islnk():
                tf.addfile(ti)


def make_context(path: str, dockerfile: str) -> tuple[IO[bytes], str]:
    """The context tar in a temp file and the Dockerfile's name inside it."""
    out = tempfile.TemporaryFile()  # noqa: SIM115 (returned open)
    if path == "-":
        data = sys.stdin.buffer.read()
        if tarfile.is_tarfile(io.BytesIO(data)) if data[:2] != b"\x1f\x8b" else True:
            out.write(data)
            out.seek(0)
            return out, dockerfile or "Dockerfile"
        name = f".dockerfile.{secrets.token_hex(10)}"
        with tarfile.open(fileobj=out, mode="w") as tf:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        out.seek(0)
        return out, name
    if not os.path.isdir(path):
        raise CLIError(f'unable to prepare context: path "{path}" not found')
    root = os.path.abspath(path)
    df_host = os.path.abspath(dockerfile) if dockerfile else os.path.join(root, "Dockerfile")
    if (
        dockerfile
        and dockerfile != "-"
        and not os.path.isabs(dockerfile)
        and not os.path.exists(df_host)
    ):
        df_host = os.path.join(root, dockerfile)
    name = os.path.relpath(df_host, root)
    extra: bytes | None = None
    if dockerfile == "-":
        extra, name = sys.stdin.buffer.read(), f".dockerfile.{secrets.token_hex(10)}"
    elif name.startswith(".."):
        with open(df_host, "rb") as f:
            extra = f.read()
        name = f".dockerfile.{secrets.token_hex(10)}"
    elif not os.path.exists(df_host):
        raise CLIError(
            f"unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {df_host}: no such file or directory"
        )
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        _add_tree(tf, root, {name, ".dockerignore"})
        if extra is not None:
            ti = tarfile.TarInfo(name)
            ti.size = len(extra)
            tf.addfile(ti, io.BytesIO(extra))
    out.seek(0)
    return out, name


def _build(ns: argparse.Namespace, s: Session) -> int:
    import json

    buildargs: dict[str, Any] = {}
    for a in ns.build_arg:
        k, sep, v = a.partition("=")
        buildargs[k] = v if sep else os.environ.get(k)
    labels = dict(item.partition("=")[::2] for item in ns.label)
    ctx, dockerfile = make_context(ns.path, ns.file)
    with ctx:
        size = ctx.seek(0, os.SEEK_END)
        ctx.seek(0)
        if not ns.quiet:
            s.out.write(f"Sending build context to Docker daemon  {human_size(size)}\n")
            s.out.flush()
        query: dict[str, Any] = {
            "t": ns.tag or None,
            "dockerfile": dockerfile,
            "buildargs": json.dumps(buildargs) if buildargs else None,
            "labels": json.dumps(labels) if labels else None,
            "nocache": 1 if ns.no_cache else None,
            "q": 1 if ns.quiet else None,
            "target": ns.target or None,
            "rm": 0 if ns.rm.lower() in ("false", "0") else 1,
            "forcerm": 1 if ns.force_rm else None,
            "pull": 1 if ns.pull else None,
            "networkmode": ns.network or None,
        }
        headers = {"Content-Type": "application/x-tar"}  # http.client sends the file chunked
        resp = s.client.request("POST", "/build", query, ctx, headers)
        image_id = ""
        for msg in s.client.stream_json(resp):
            if msg.get("error"):
                detail = msg.get("errorDetail") or {}
                s.err.write(str(msg["error"]) + "\n")
                return int(detail.get("code") or 1)
            if msg.get("aux"):
                image_id = str(msg["aux"].get("ID", ""))
            elif msg.get("stream") and not ns.quiet:
                s.out.write(str(msg["stream"]))
                s.out.flush()
        if ns.quiet and image_id:
            s.out.write(image_id + "\n")
    return 0


def _prune_flags(p: Parser) -> None:
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("-f", "--force", action="store_true")


def _prune(ns: argparse.Namespace, s: Session) -> int:
    out = s.client.post("/build/prune") or {}
    s.out.write(f"Total reclaimed space: {human_size(out.get('SpaceReclaimed') or 0)}\n")
    return 0


COMMANDS: dict[str, Command] = {
    "build": Command("dockyard build [OPTIONS] PATH | URL | -", _flags, _build),
    "prune": Command("dockyard builder prune [OPTIONS]", _prune_flags, _prune),
}
