"""`network prune` filters (N5) through core/filters.py, pure: until (unix time, RFC 3339, Go duration), label,
label!, and Docker's errors for unknown keys and bad times."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dockyard import errors
from dockyard.core import timefmt
from dockyard.core.filters import prune_selector
from dockyard.network.endpoints import choose_gateway

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z
OLD = "2023-11-14T21:00:00.123456789Z"  # 73 minutes before NOW
NEW = "2023-11-14T22:13:00Z"  # 20 s before NOW


def selector(filters: dict[str, list[str]], now: float) -> Callable[[str, dict[str, str]], bool]:
    """network prune's selector over RFC 3339 creation times, as network/usernets.py calls it."""
    pick = prune_selector(filters, now, wording="Invalid filter")
    return lambda created, labels: pick(timefmt.parse_rfc3339(created), labels)


def test_until_forms() -> None:
    """N5: a duration counts back from now; timestamps and dates are absolute."""
    for until, old, new in [("1h", True, False), ("10s", True, True), ("2h", False, False),
                            (str(int(NOW)), True, True), ("2023-11-14T22:00:00Z", True, False),
                            ("2023-11-14", False, False)]:  # fmt: skip
        pick = selector({"until": [until]}, NOW)
        assert (pick(OLD, {}), pick(NEW, {})) == (old, new), until


def test_labels() -> None:
    """N5: label needs every spec; label! keeps a network matching every one of its specs."""
    pick = selector({"label": ["k"], "label!": ["k=1"]}, NOW)
    assert pick(NEW, {"k": "2"}) and not pick(NEW, {"k": "1"}) and not pick(NEW, {})
    keep = selector({"label!": ["k"]}, NOW)
    assert keep(NEW, {}) and not keep(NEW, {"k": ""})


def test_errors() -> None:
    """N5: Docker's wording for an unknown filter, a bad time, two untils."""
    for filters, message in [
        ({"foo": ["bar"]}, "Invalid filter 'foo'"),
        ({"until": ["xyz"]}, 'failed to parse value as time or duration: "xyz"'),
        ({"until": ["1s", "2s"]}, "more than one until filter specified"),
    ]:
        with pytest.raises(errors.InvalidParameter) as e:
            prune_selector(filters, NOW, wording="Invalid filter")
        assert e.value.message == message


def test_gateway_choice() -> None:
    """N5: libnetwork's order: internal networks never carry the route, then the lowest name."""
    assert choose_gateway([("n1", False), ("bridge", False), ("aa", True)]) == "bridge"
    assert choose_gateway([("n1", False), ("n0", False)]) == "n0"
    assert choose_gateway([("aa", True)]) is None
    assert choose_gateway([]) is None
