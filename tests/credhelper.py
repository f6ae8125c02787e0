"""A fake docker credential helper for the tests of `credsStore` / `credHelpers` (E5): an
executable `docker-credential-dytest<hex>` in a directory of the test's own, speaking the
docker-credential-helpers protocol (`store` reads {"ServerURL", "Username", "Secret"} on stdin;
`get` and `erase` read a server URL; `get` prints the credentials or, for an unknown URL, exits 1
printing `credentials not found in native keychain`; `list` prints {URL: username}). It keeps
its credentials in a JSON file beside it and logs every call (action and stdin), so a test sees
exactly what a client asked; `fail()` makes every later call exit 1 with a message, as a broken
keychain would. Nothing outside its directory is read or written."""

from __future__ import annotations

import json
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NOT_FOUND = "credentials not found in native keychain"

_PROGRAM = """#!{python}
import json, sys
from pathlib import Path

here = Path(__file__).resolve().parent
store, log, fail = here / "{name}.json", here / "{name}.log", here / "{name}.fail"
action = sys.argv[1] if len(sys.argv) > 1 else ""
data = sys.stdin.read()
with log.open("a") as f:
    f.write(json.dumps([action, data]) + "\\n")
if fail.exists():
    print(fail.read_text())
    sys.exit(1)
creds = json.loads(store.read_text()) if store.exists() else {{}}
if action == "store":
    doc = json.loads(data)
    creds[doc["ServerURL"]] = {{"Username": doc["Username"], "Secret": doc["Secret"]}}
elif action in ("get", "erase") and data.strip() not in creds:
    print("{not_found}")
    sys.exit(1)
elif action == "get":
    print(json.dumps({{"ServerURL": data.strip(), **creds[data.strip()]}}))
elif action == "erase":
    del creds[data.strip()]
elif action == "list":
    print(json.dumps({{url: c["Username"] for url, c in creds.items()}}))
else:
    print("unknown action: " + action)
    sys.exit(1)
store.write_text(json.dumps(creds))
"""


@dataclass
class Helper:
    """One fake helper: `name` is what config.json names (`credsStore`: NAME)."""

    directory: Path
    name: str

    @property
    def program(self) -> Path:
        return self.directory / f"docker-credential-{self.name}"

    def stored(self) -> dict[str, dict[str, str]]:
        """{server URL: {"Username", "Secret"}} as the helper holds them."""
        path = self.directory / f"{self.name}.json"
        found: dict[str, dict[str, str]] = json.loads(path.read_text()) if path.exists() else {}
        return found

    def calls(self) -> list[tuple[str, Any]]:
        """Every call so far: (action, stdin), a `store`'s stdin parsed."""
        path = self.directory / f"{self.name}.log"
        out: list[tuple[str, Any]] = []
        for line in path.read_text().splitlines() if path.exists() else []:
            action, data = json.loads(line)
            out.append((action, json.loads(data) if action == "store" else data))
        return out

    def forget_calls(self) -> None:
        (self.directory / f"{self.name}.log").unlink(missing_ok=True)

    def fail(self, message: str) -> None:
        """From now on every call exits 1 printing `message`."""
        (self.directory / f"{self.name}.fail").write_text(message)


def make_helper(directory: Path) -> Helper:
    """A new helper in `directory` (put it first on PATH to use it)."""
    directory.mkdir(parents=True, exist_ok=True)
    helper = Helper(directory, f"dytest{secrets.token_hex(4)}")
    helper.program.write_text(
        _PROGRAM.format(python=sys.executable, name=helper.name, not_found=NOT_FOUND)
    )
    helper.program.chmod(0o755)
    return helper
