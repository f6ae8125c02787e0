"""Docker Engine API shapes of images (API 1.44): list rows, inspect, history rows, and the
`GET /images/json` filters. Pure functions over stored records and config documents."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from dockyard.core import filters as filters_
from dockyard.core import timefmt
from dockyard.core.types import Json
from dockyard.errors import InvalidParameter
from dockyard.images import config as image_config
from dockyard.images import reference
from dockyard.state.images import ImageRecord

LIST_FILTERS = ("before", "dangling", "label", "reference", "since", "until")


def split_references(refs: list[str]) -> tuple[list[str], list[str]]:
    """Stored references -> (RepoTags, RepoDigests) in familiar form."""
    tags = [reference.familiar(r) for r in refs if "@" not in r]
    digests = [reference.familiar(r) for r in refs if "@" in r]
    return tags, digests


def summary(rec: ImageRecord, doc: Json, refs: list[str]) -> Json:
    tags, digests = split_references(refs)
    return {
        "Containers": -1,
        "Created": int(rec.created_unix),
        "Id": rec.id,
        "Labels": (doc.get("config") or {}).get("Labels") or {},
        "ParentId": rec.parent or "",
        "RepoDigests": digests,
        "RepoTags": tags,
        "SharedSize": -1,
        "Size": rec.size,
        "VirtualSize": rec.size,
    }


def inspect(rec: ImageRecord, doc: Json, refs: list[str], graph_driver: Json) -> Json:
    tags, digests = split_references(refs)
    out: Json = {
        "Id": rec.id,
        "RepoTags": tags,
        "RepoDigests": digests,
        "Parent": rec.parent or "",
        "Comment": doc.get("comment", ""),
        "Created": doc.get("created") or timefmt.ZERO_TIME,
        "Container": doc.get("container", ""),
        "ContainerConfig": doc.get("container_config") or image_config.empty_container_config(),
        "DockerVersion": doc.get("docker_version", ""),
        "Author": doc.get("author", ""),
        "Config": doc.get("config"),
        "Architecture": doc.get("architecture", image_config.ARCHITECTURE),
        "Os": doc.get("os", image_config.OS),
        "Size": rec.size,
        "VirtualSize": rec.size,
        "GraphDriver": graph_driver,
        "RootFS": {"Type": "layers", "Layers": image_config.diff_ids(doc)},
        "Metadata": {"LastTagTime": rec.last_tag_time or timefmt.ZERO_TIME},
    }
    if doc.get("variant"):
        out["Variant"] = doc["variant"]
    return out


def history(
    doc: Json,
    layer_sizes: dict[str, int],
    ids_by_row: dict[int, tuple[str, list[str]]],
) -> list[Json]:
    """Rows newest first. `ids_by_row` maps an oldest-first row index to the (image id, familiar
    tags) of the image whose last history entry it is; every other row shows "<missing>"."""
    rows: list[Json] = []
    for i, (h, diff_id) in enumerate(image_config.history_with_layers(doc)):
        image_id, tags = ids_by_row.get(i, ("<missing>", []))
        rows.append(
            {
                "Id": image_id,
                "Created": int(timefmt.parse_rfc3339(h.get("created", ""))),
                "CreatedBy": h.get("created_by", ""),
                "Tags": tags or None,
                "Size": layer_sizes.get(diff_id, 0) if diff_id else 0,
                "Comment": h.get("comment", ""),
            }
        )
    rows.reverse()
    return rows


# ---- list filters --------------------------------------------------------------------------


def validate_filters(filters: dict[str, list[str]]) -> None:
    filters_.check_keys(filters, LIST_FILTERS)
    for key, values in filters.items():
        if key == "dangling":
            filters_.bool_value(key, values)
        if key == "reference":
            for v in values:
                glob_regex(v)


def dangling_wanted(filters: dict[str, list[str]]) -> bool | None:
    values = filters.get("dangling") or []
    return filters_.bool_value("dangling", values) if values else None


def glob_regex(pattern: str) -> re.Pattern[str]:
    """Go's path.Match: `*` and `?` never cross "/"; `[...]` classes; `\\` escapes."""
    out = ""
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                raise InvalidParameter("syntax error in pattern")
            body = pattern[i + 1 : end]
            negate = body[:1] in ("!", "^")
            body = body[1:] if negate else body
            out += "[" + ("^" if negate else "") + body.replace("\\", "\\\\") + "]"
            i = end
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(ch)
        i += 1
    return re.compile("^" + out + "$")


def reference_matches(patterns: list[str], ref: str) -> bool:
    """distribution's FamiliarMatch: the familiar string, then the familiar name alone."""
    try:
        parsed = reference.parse(ref)
    except InvalidParameter:
        return False
    full, name = parsed.familiar(), parsed.familiar_name
    for p in patterns:
        rx = glob_regex(p)
        if rx.match(full) or rx.match(name):
            return True
    return False


def time_filter(
    filters: dict[str, list[str]], resolve_created: Callable[[str], float]
) -> Callable[[float], bool]:
    """before/since name images (their creation time bounds the list); until is a timestamp."""
    bounds: list[Callable[[float], bool]] = []
    for ref in filters.get("before") or []:
        t = resolve_created(ref)
        bounds.append(lambda c, t=t: c < t)  # type: ignore[misc]
    for ref in filters.get("since") or []:
        t = resolve_created(ref)
        bounds.append(lambda c, t=t: c > t)  # type: ignore[misc]
    for value in filters.get("until") or []:
        u = filters_.until([value], time.time())
        bounds.append(lambda c, u=u: c <= u)  # type: ignore[misc]
    return lambda created: all(b(created) for b in bounds)
