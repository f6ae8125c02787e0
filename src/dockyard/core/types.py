"""Docker Engine API shapes as the services pass them: plain dicts as in moby's swagger.yaml."""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]
Filters = dict[str, list[str]]  # a decoded `filters` query parameter: {"label": ["a=b"], ...}
