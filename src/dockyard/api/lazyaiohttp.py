"""Import aiohttp's server half without its client half (issue 2: daemon idle RSS).

`aiohttp/__init__.py` imports the whole HTTP client (connector, cookie jar, TLS helpers,
happy-eyeballs...) before any submodule: ~4 MiB of resident code objects the daemon never runs,
since it only serves. `install()` registers the `aiohttp` package with its real path and version
but without running its `__init__`; submodules (`aiohttp.web`, `aiohttp.streams`, ...) then import
as usual, and the first use of a top-level name that is not a submodule (`aiohttp.ClientError`)
runs the real `__init__` into the same module, so nothing ever sees a partial package.

Lifecycle: the daemon calls `install()` first thing, before anything imports aiohttp; in any
other process aiohttp is imported normally (install() is a no-op once aiohttp is loaded).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from typing import Any


def install() -> bool:
    """Returns True if the lazy package was installed (False: already imported or not found)."""
    if "aiohttp" in sys.modules:
        return False
    spec = importlib.util.find_spec("aiohttp")
    if spec is None or spec.origin is None or spec.loader is None:
        return False
    with open(spec.origin, encoding="utf-8") as f:
        source = f.read()
    version = re.search(r'^__version__ = "([^"]+)"', source, re.MULTILINE)
    if version is None:
        return False  # an aiohttp we do not know: import it the ordinary way
    module = importlib.util.module_from_spec(spec)
    namespace = vars(module)
    namespace["__version__"] = version.group(1)  # aiohttp.http does `from . import __version__`
    loader = spec.loader
    loaded = False

    def __getattr__(name: str) -> Any:
        nonlocal loaded
        if name.startswith("__") or importlib.util.find_spec(f"aiohttp.{name}") is not None:
            # a submodule: let the import system load it (from-imports probe with hasattr)
            raise AttributeError(name)
        if not loaded:
            loaded = True
            del namespace["__getattr__"]
            loader.exec_module(module)  # the real __init__: the client half, once
        return getattr(module, name)

    namespace["__getattr__"] = __getattr__
    sys.modules["aiohttp"] = module
    return True
