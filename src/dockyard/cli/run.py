"""`run` and `create`, composed client-side exactly like docker-cli: create (pulling on a
missing image), attach and register wait before start, start, stream, exit with the status."""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
from typing import Any

from dockyard.cli.client import APIError, Client, quote_path
from dockyard.cli.command import CLIError, Command, Parser, Session
from dockyard.cli.runflags import add_flags, build


def familiar_reference(image: str) -> str:
    """`busybox` -> `busybox:latest`; tags and digests are kept."""
    last = image.rsplit("/", 1)[-1]
    if "@" in image or ":" in last:
        return image
    return f"{image}:latest"


def _cmd_error(prog: str, message: str, code: int) -> CLIError:
    return CLIError(
        f"dockyard: {message}\n\nRun 'dockyard {prog} --help' for more information", code
    )


def pull(client: Client, image: str, err: Any) -> None:
    """POST /images/create, printing progress lines to stderr; raises APIError on failure."""
    ref = familiar_reference(image)
    if "@" in ref:
        repo, _, digest = ref.partition("@")
        query = {"fromImage": repo, "tag": digest}
    else:
        slash = ref.rfind("/")
        colon = ref.rfind(":")
        repo, tag = (ref[:colon], ref[colon + 1 :]) if colon > slash else (ref, "latest")
        query = {"fromImage": repo, "tag": tag}
    from dockyard.cli import credentials, progressview
    from dockyard.cli.registry import registry_of

    headers = {"X-Registry-Auth": credentials.header(registry_of(repo))}
    resp = client.request("POST", "/images/create", query, None, headers)
    try:
        progressview.show(client.stream_json(resp), err)
    except CLIError as e:
        raise APIError(500, e.message) from None


def create_container(s: Session, ns: argparse.Namespace) -> str:
    """POST /containers/create, pulling once on `No such image`; APIError propagates."""
    body = build(ns)
    query = {"name": ns.name or None, "platform": ns.platform or None}
    client = s.client
    if ns.pull == "always":
        pull(client, ns.image, s.err)
    try:
        result = client.post("/containers/create", query, body)
    except APIError as exc:
        if exc.status != 404 or "No such image" not in exc.message or ns.pull == "never":
            raise
        s.err.write(f"Unable to find image '{familiar_reference(ns.image)}' locally\n")
        s.err.flush()
        pull(client, ns.image, s.err)
        result = client.post("/containers/create", query, body)
    for warning in result.get("Warnings") or []:
        s.err.write(f"WARNING: {warning}\n")
    return str(result["Id"])


def start_error_code(message: str) -> int:
    """docker-cli's rule for a failed start: 127 not found, 126 not executable, else 125."""
    if any(
        t in message
        for t in (
            "executable file not found",
            "no such file or directory",
            "system cannot find the file specified",
        )
    ):
        return 127
    if "permission denied" in message or "is a directory" in message:
        return 126
    return 125


def _proxy_signals(client: Client, path: str) -> None:
    import signal

    def forward(signum: int, _frame: object) -> None:
        threading.Thread(
            target=lambda: _quiet_post(client, f"{path}/kill", {"signal": str(signum)}),
            daemon=True,
        ).start()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, forward)


def _quiet_post(client: Client, path: str, query: dict[str, str]) -> None:
    # The container may be gone already; a lost signal is not an error.
    with contextlib.suppress(Exception):
        client.post(path, query)


def _run(ns: argparse.Namespace, s: Session) -> int:
    from dockyard.cli.streams import attach_session, raw_terminal, send_resize

    try:
        cid = create_container(s, ns)
    except APIError as exc:
        raise _cmd_error("run", f"Error response from daemon: {exc.message}", 125) from None
    client = s.client
    path = f"/containers/{quote_path(cid)}"
    if ns.detach:
        try:
            client.post(f"{path}/start")
        except APIError as exc:
            raise _cmd_error(
                "run", f"Error response from daemon: {exc.message}", start_error_code(exc.message)
            ) from None
        s.print(cid)
        return 0
    body = build(ns)
    attach_in, attach_out, attach_err = (
        body["AttachStdin"],
        body["AttachStdout"],
        body["AttachStderr"],
    )
    conn = None
    if attach_in or attach_out or attach_err:
        conn = client.hijack(
            f"{path}/attach",
            {
                "stream": True,
                "stdin": attach_in or None,
                "stdout": attach_out or None,
                "stderr": attach_err or None,
                "detachKeys": ns.detach_keys,
            },
        )
    wait = client.begin("POST", f"{path}/wait", {"condition": "removed" if ns.rm else "next-exit"})
    try:
        client.post(f"{path}/start")
    except APIError as exc:
        if conn is not None:
            conn.close()
        code = start_error_code(exc.message)
        s.err.write(
            f"dockyard: Error response from daemon: {exc.message}\n\n"
            "Run 'dockyard run --help' for more information\n"
        )
        if ns.rm:
            _wait_briefly(wait)
        return code
    if ns.tty:
        send_resize(client, path)
    if ns.sig_proxy and not ns.tty:
        _proxy_signals(client, path)
    if conn is not None:
        with raw_terminal(ns.tty and attach_in):
            attach_session(conn, ns.tty, attach_in)
    try:
        status = wait() or {}
    except APIError as exc:
        raise CLIError(f"Error waiting for container: {exc.message}", 125) from None
    if (status.get("Error") or {}).get("Message"):
        raise CLIError(f"Error waiting for container: {status['Error']['Message']}", 125)
    sys.stdout.flush()
    return int(status.get("StatusCode", 0))


def _wait_briefly(wait: Any) -> None:
    done = threading.Event()

    def run() -> None:
        # Only used to let auto-removal finish; its outcome does not matter.
        with contextlib.suppress(Exception):
            wait()
        done.set()

    threading.Thread(target=run, daemon=True).start()
    done.wait(10.0)


def _create(ns: argparse.Namespace, s: Session) -> int:
    s.print(create_container(s, ns))
    return 0


def _configure(p: Parser) -> None:
    add_flags(p)


COMMANDS = {
    "run": Command("[OPTIONS] IMAGE [COMMAND] [ARG...]", _configure, _run),
    "create": Command("[OPTIONS] IMAGE [COMMAND] [ARG...]", _configure, _create),
}
