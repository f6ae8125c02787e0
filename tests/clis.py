"""Which docker CLI the compat tests drive: one variable, DOCKYARD_DOCKER_CLI, defaulting to
Debian's /usr/bin/docker (20.10, what a fresh Debian 12 gets from docker.io). The chosen binary is
put first on PATH as `docker` for the whole session, so every test and helper that runs `docker`
runs that one. `scripts/test` runs the compat tier once more with each other CLI it finds."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

DEFAULT = "/usr/bin/docker"
KNOWN = ("/usr/bin/docker", "/usr/local/bin/docker")


def chosen() -> str:
    return os.environ.get("DOCKYARD_DOCKER_CLI", DEFAULT)


def version(cli: str) -> str:
    """`20.10.24+dfsg1`, `28.2.2`, or '' when the binary does not run."""
    try:
        out = subprocess.run([cli, "--version"], capture_output=True, text=True, timeout=20).stdout
    except OSError:
        return ""
    m = re.search(r"version ([^,\s]+)", out)
    return m.group(1) if m else ""


def major() -> int:
    """The chosen CLI's major version (20 for Debian's, 28 for a current one)."""
    v = version(chosen())
    return int(v.split(".")[0]) if v else 0


def put_first_on_path() -> Path | None:
    """Make `docker` on PATH the chosen CLI; return the directory holding the link (or None
    when the chosen CLI is missing: the tests that need it then fail, they are not skipped)."""
    cli = chosen()
    if not os.access(cli, os.X_OK):
        return None
    shim = Path(tempfile.mkdtemp(prefix="dockyard-cli-"))
    (shim / "docker").symlink_to(cli)
    os.environ["PATH"] = f"{shim}:{os.environ.get('PATH', '')}"
    return shim


def remove(shim: Path | None) -> None:
    if shim is not None:
        shutil.rmtree(shim, ignore_errors=True)


# Where Debian's CLI 20.10 prints in its own words what a current CLI passes on from the daemon.
# Seen side by side against one dockerd 20.10: for a 404, 20.10 prints "Error: No such container:
# X" (its own text) where 28 prints "Error response from daemon: <the daemon's message>"; usage
# errors end "See 'docker run --help'." in 20.10 and "Run 'docker run --help' for more
# information" after a Usage block in 28; "requires at least 1 argument." is quoted differently.
_DAEMON_PREFIX = re.compile(r"Error response from daemon: ")
_MISSING = re.compile(r"^(.*?)Error: .*(?:[Nn]o such|[Cc]ould not find|not found).*$", re.M)
_ARGS = re.compile(r"""^(?:\w+: )?["'](\w+ \w+)["'] requires at least (\d+) arguments?\.?$""")


def neutral(text: str) -> str:
    """`text` (a CLI's stderr) with the forms in which CLI 20.10 and a current CLI differ made
    the same, when the chosen CLI is older than 23; else `text` unchanged, byte for byte."""
    if major() >= 23:
        return text
    text = _DAEMON_PREFIX.sub("Error: ", text)
    text = _MISSING.sub(r"\1Error: <not found>", text)
    if "--help" in text:  # a usage error: its first line is the message, the rest is help
        first = text.splitlines()[0]
        text = _ARGS.sub(r"'\1' requires at least \2 argument", first) + "\n"
    return text.replace(": unknown.\n", ": unknown\n")
