"""Image commands: images, rmi, tag, history, import, save, load, prune and dockyard's own
`image bootstrap` (a busybox base image made offline from the host's static busybox)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from dockyard.cli.client import quote_path
from dockyard.cli.command import CLIError, Command, Parser, Session, for_each
from dockyard.cli.containers import filters_json, split_reference, write_archive


def _images_flags(p: Parser) -> None:
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-f", "--filter", action="append")
    p.add_argument("--format", default="")
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("--digests", action="store_true")
    p.add_argument("--tree", action="store_true")
    p.add_argument("repository", nargs="?")


def _images(ns: argparse.Namespace, s: Session) -> int:
    from dockyard.cli.format import render
    from dockyard.cli.imagerows import IMAGE_HEADERS, IMAGES_DIGEST_TABLE, IMAGES_TABLE, image_rows

    filters = list(ns.filter or [])
    if ns.repository:
        filters.append(f"reference={ns.repository}")
    query = {"all": True if ns.all else None, "filters": filters_json(filters)}
    images = s.client.get("/images/json", query) or []
    fmt = ns.format or "table"
    if ns.quiet:
        fmt = "{{.ID}}"
    elif fmt == "table":
        fmt = IMAGES_DIGEST_TABLE if ns.digests else IMAGES_TABLE
    rows = image_rows(images, ns.digests, not ns.no_trunc, time.time())
    if ns.quiet:
        seen: set[str] = set()
        rows = [r for r in rows if not (r.ID() in seen or seen.add(r.ID()))]  # type: ignore[func-returns-value]
    s.out.write(render(rows, fmt, IMAGE_HEADERS))
    return 0


def _rmi_flags(p: Parser) -> None:
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("--no-prune", action="store_true")
    p.add_argument("images", nargs="+", metavar="IMAGE")


def _print_deletions(s: Session, items: list[dict[str, str]], lower: bool = False) -> None:
    for item in items:
        for key, label in (("Untagged", "Untagged"), ("Deleted", "Deleted")):
            if item.get(key):
                s.print(f"{label.lower() if lower else label}: {item[key]}")


def _rmi(ns: argparse.Namespace, s: Session) -> int:
    query = {"force": ns.force or None, "noprune": ns.no_prune or None}

    def act(name: str) -> bool:
        _print_deletions(s, s.client.call("DELETE", f"/images/{quote_path(name)}", query) or [])
        return False

    return for_each(s, ns.images, act)


def _tag_flags(p: Parser) -> None:
    p.add_argument("source", metavar="SOURCE_IMAGE[:TAG]")
    p.add_argument("target", metavar="TARGET_IMAGE[:TAG]")


def _tag(ns: argparse.Namespace, s: Session) -> int:
    repo, tag = split_reference(ns.target)
    s.client.post(f"/images/{quote_path(ns.source)}/tag", {"repo": repo, "tag": tag or "latest"})
    return 0


def _bool_value(text: str) -> bool:
    low = text.lstrip("=").lower()
    if low in ("1", "t", "true"):
        return True
    if low in ("0", "f", "false"):
        return False
    raise argparse.ArgumentTypeError(
        f'invalid argument "{text}" for "-H, --human" flag: strconv.ParseBool: parsing "{text}": invalid syntax'
    )


def _history_flags(p: Parser) -> None:
    p.add_argument("-H", "--human", nargs="?", const=True, default=True, type=_bool_value)
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--format", default="")
    p.add_argument("--platform", default="")
    p.add_argument("image")


def _history(ns: argparse.Namespace, s: Session) -> int:
    from dockyard.cli.format import render
    from dockyard.cli.imagerows import HISTORY_HEADERS, HISTORY_TABLE, HistoryRow

    history = s.client.get(f"/images/{quote_path(ns.image)}/history") or []
    fmt = "{{.ID}}" if ns.quiet else (ns.format or "table")
    if fmt == "table":
        fmt = HISTORY_TABLE
    headers = dict(HISTORY_HEADERS)
    if not ns.human:
        headers["CreatedSince"] = "CREATED AT"
    now = time.time()
    rows = [HistoryRow(h, not ns.no_trunc, ns.human, now) for h in history]
    s.out.write(render(rows, fmt, headers))
    return 0


def _import_flags(p: Parser) -> None:
    p.add_argument("-c", "--change", action="append", default=[])
    p.add_argument("-m", "--message", default="")
    p.add_argument("--platform", default="")
    p.add_argument("source", metavar="file|URL|-")
    p.add_argument("reference", nargs="?")


def _print_stream(s: Session, resp: Any) -> None:
    for msg in s.client.stream_json(resp):
        if msg.get("error"):
            raise CLIError(str(msg["error"]))
        if msg.get("stream"):
            s.out.write(str(msg["stream"]))
        elif msg.get("status"):
            prefix = f"{msg['id']}: " if msg.get("id") else ""
            s.print(f"{prefix}{msg['status']}")
        s.out.flush()


def _import(ns: argparse.Namespace, s: Session) -> int:
    repo, tag = split_reference(ns.reference)
    is_url = ns.source.startswith(("http://", "https://"))
    query: dict[str, Any] = {
        "fromSrc": ns.source if is_url else "-",
        "repo": repo,
        "tag": tag,
        "message": ns.message or None,
        "changes": ns.change or None,
        "platform": ns.platform or None,
    }
    body: Any = None
    if not is_url:
        try:
            body = sys.stdin.buffer if ns.source == "-" else open(ns.source, "rb")  # noqa: SIM115
        except OSError as exc:
            raise CLIError(f"open {ns.source}: {(exc.strerror or '').lower()}") from None
    headers = {"Content-Type": "application/x-tar"}
    resp = s.client.request("POST", "/images/create", query, body, headers)
    _print_stream(s, resp)
    return 0


def _save_flags(p: Parser) -> None:
    p.add_argument("-o", "--output", default="")
    p.add_argument("--platform", default="")
    p.add_argument("images", nargs="+", metavar="IMAGE")


def _save(ns: argparse.Namespace, s: Session) -> int:
    if not ns.output and sys.stdout.isatty():
        raise CLIError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    resp = s.client.request("GET", "/images/get", {"names": ns.images})
    write_archive(resp, ns.output, "")
    return 0


def _load_flags(p: Parser) -> None:
    p.add_argument("-i", "--input", default="")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--platform", default="")


def _load(ns: argparse.Namespace, s: Session) -> int:
    if not ns.input and sys.stdin.isatty():
        raise CLIError("requested load from stdin, but stdin is empty")
    try:
        body = open(ns.input, "rb") if ns.input else sys.stdin.buffer  # noqa: SIM115
    except OSError as exc:
        raise CLIError(f"open {ns.input}: {(exc.strerror or '').lower()}") from None
    headers = {"Content-Type": "application/x-tar"}
    resp = s.client.request(
        "POST", "/images/load", {"quiet": True if ns.quiet else None}, body, headers
    )
    _print_stream(s, resp)
    return 0


def _prune_flags(p: Parser) -> None:
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("--filter", action="append")


def _prune(ns: argparse.Namespace, s: Session) -> int:
    from dockyard.cli.lifecycle import confirm
    from dockyard.units import human_size

    warning = (
        "WARNING! This will remove all images without at least one container associated to them."
        if ns.all
        else "WARNING! This will remove all dangling images."
    )
    if not ns.force and not confirm(s, warning):
        return 0
    filters = list(ns.filter or [])
    filters.append(f"dangling={'false' if ns.all else 'true'}")
    report = s.client.post("/images/prune", {"filters": filters_json(filters)}) or {}
    deleted = report.get("ImagesDeleted") or []
    if deleted:
        s.print("Deleted Images:")
        _print_deletions(s, deleted, lower=True)
        s.print()
    s.print(f"Total reclaimed space: {human_size(int(report.get('SpaceReclaimed') or 0))}")
    return 0


def _bootstrap_flags(p: Parser) -> None:
    p.add_argument("reference", nargs="?")


def _bootstrap(ns: argparse.Namespace, s: Session) -> int:
    repo, tag = split_reference(ns.reference)
    result = s.client.post("/dockyard/images/bootstrap", {"repo": repo, "tag": tag})
    if isinstance(result, dict):
        s.print(str(result.get("Id") or result.get("id") or result))
    elif result:
        s.print(str(result).strip())
    return 0


COMMANDS = {
    "images": Command("[OPTIONS] [REPOSITORY[:TAG]]", _images_flags, _images),
    "rmi": Command("[OPTIONS] IMAGE [IMAGE...]", _rmi_flags, _rmi),
    "tag": Command("SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]", _tag_flags, _tag),
    "history": Command("[OPTIONS] IMAGE", _history_flags, _history),
    "import": Command("[OPTIONS] file|URL|- [REPOSITORY[:TAG]]", _import_flags, _import),
    "save": Command("[OPTIONS] IMAGE [IMAGE...]", _save_flags, _save),
    "load": Command("[OPTIONS]", _load_flags, _load),
    "prune": Command("[OPTIONS]", _prune_flags, _prune),
    "bootstrap": Command("[REPOSITORY[:TAG]]", _bootstrap_flags, _bootstrap),
}
