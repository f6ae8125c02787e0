"""`pull`, `push`, `login` and `logout` (E5), with docker's flags and output: progress on stdout
(bars on a terminal), the pulled reference last, credentials from ~/.docker/config.json sent as
X-Registry-Auth."""

from __future__ import annotations

import argparse
import getpass
import sys

from dockyard.cli import credentials, progressview
from dockyard.cli.client import APIError
from dockyard.cli.command import CLIError, Command, Parser, Session


def registry_of(image: str) -> str:
    """The registry a name lives on: its first component when that looks like a host."""
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def _split(image: str, all_tags: bool) -> tuple[str, str]:
    """(fromImage, tag): a digest or tag as docker sends them; `latest` unless -a."""
    if "@" in image:
        repo, _, digest = image.partition("@")
        return repo, digest
    slash, colon = image.rfind("/"), image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon + 1 :]
    return image, "" if all_tags else "latest"


def _transfer_flags(p: Parser, pull: bool) -> None:
    p.add_argument("-a", "--all-tags", action="store_true")
    if pull:
        p.add_argument("--platform", default="")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--disable-content-trust", action="store_true")
    p.add_argument("image")


def _target(ns: argparse.Namespace, s: Session) -> tuple[str, str]:
    """(repository, tag or digest or "" for all tags), saying when `latest` is assumed."""
    repo, tag = _split(ns.image, ns.all_tags)
    if ns.all_tags and tag:
        raise CLIError("tag can't be used with --all-tags/-a")
    defaulted = "@" not in ns.image and ":" not in ns.image.rsplit("/", 1)[-1]
    if tag == "latest" and defaulted and not ns.quiet:
        s.print("Using default tag: latest")
    return repo, tag


def _transfer(ns: argparse.Namespace, s: Session, path: str, query: dict[str, str | None],
              repo: str) -> None:  # fmt: skip
    """POST the pull or push with the registry's credentials; show or swallow its progress."""
    headers = {"X-Registry-Auth": credentials.header(registry_of(repo))}
    try:
        resp = s.client.request("POST", path, query, None, headers)
    except APIError as e:
        raise CLIError(f"Error response from daemon: {e.message}") from None
    messages = s.client.stream_json(resp)
    if not ns.quiet:
        progressview.show(messages, s.out)
        return
    for msg in messages:
        if msg.get("error"):
            raise CLIError(str(msg["error"]))


def _pull(ns: argparse.Namespace, s: Session) -> int:
    repo, tag = _target(ns, s)
    query = {"fromImage": repo, "tag": tag or None, "platform": ns.platform or None}
    _transfer(ns, s, "/images/create", query, repo)
    s.print(ns.image if ns.all_tags or "@" in ns.image or tag != "latest" else f"{repo}:latest")
    return 0


def _push(ns: argparse.Namespace, s: Session) -> int:
    if "@" in ns.image:
        raise CLIError("cannot push a digest reference")
    repo, tag = _target(ns, s)
    _transfer(ns, s, f"/images/{repo}/push", {"tag": tag or None}, repo)
    if ns.quiet:
        s.print(ns.image)
    return 0


def _login_flags(p: Parser) -> None:
    p.add_argument("-u", "--username", default="")
    p.add_argument("-p", "--password", default="")
    p.add_argument("--password-stdin", action="store_true")
    p.add_argument("server", nargs="?", default="")


def _login(ns: argparse.Namespace, s: Session) -> int:
    if ns.password and ns.password_stdin:
        raise CLIError("--password and --password-stdin are mutually exclusive")
    password = ns.password
    if ns.password_stdin:
        if not ns.username:
            raise CLIError("Must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    elif ns.password:
        s.warn("WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
    user = ns.username
    if not user and not password:  # the docker CLI tries what it keeps first
        stored = credentials.get(ns.server or "docker.io")
        if stored.username and stored.password:
            s.print("Authenticating with existing credentials...")
            user, password = stored.username, stored.password
    if not user:
        user = input("Username: ").strip()
    if not password:
        password = getpass.getpass("Password: ")
    if not user or not password:
        raise CLIError("Error: Non-null Username and Password Required")
    body = {
        "username": user,
        "password": password,
        "serveraddress": credentials.server_key(ns.server),
    }
    try:
        answer = s.client.post("/auth", None, body)
    except APIError as e:
        raise CLIError(f"Error response from daemon: {e.message}") from None
    try:
        credentials.store(ns.server or "docker.io", user, password)
    except credentials.HelperError as e:
        raise CLIError(f"Error saving credentials: {e}") from None
    s.print(str((answer or {}).get("Status") or "Login Succeeded"))
    return 0


def _logout_flags(p: Parser) -> None:
    p.add_argument("server", nargs="?", default="")


def _logout(ns: argparse.Namespace, s: Session) -> int:
    """As the docker CLI (20.10 and later): the same line whether or not there was a login; a
    warning only when no name could be erased."""
    s.print(f"Removing login credentials for {credentials.server_key(ns.server)}")
    failed = credentials.erase(ns.server or "docker.io")
    if failed:
        s.warn("WARNING: could not erase credentials:\n" + "\n".join(failed))
    return 0


COMMANDS = {
    "pull": Command("[OPTIONS] NAME[:TAG|@DIGEST]", lambda p: _transfer_flags(p, True), _pull),
    "push": Command("[OPTIONS] NAME[:TAG]", lambda p: _transfer_flags(p, False), _push),
    "login": Command("[OPTIONS] [SERVER]", _login_flags, _login),
    "logout": Command("[SERVER]", _logout_flags, _logout),
}
