"""core/filters.py (#14): the one implementation of Docker's filter semantics behind every `ls`
and `prune` (S5, S8, N5): MatchKVList label matching, boolean values, until, label!."""

from __future__ import annotations

import pytest

from dockyard import errors
from dockyard.core import filters

NOW = 1_700_000_000.0


def test_labels_match_is_match_kv_list() -> None:
    assert filters.labels_match({"a": "b"}, ["a=b", "a"])
    assert not filters.labels_match({"a": "b"}, ["a=c"])
    assert not filters.labels_match({"a": "b"}, ["a", "z"])
    assert filters.labels_match(None, []) and not filters.labels_match(None, ["a"])
    assert filters.labels_match({"a": ""}, ["a="]) and not filters.labels_match({"a": "x"}, ["a="])


def test_bool_values_and_keys() -> None:
    assert filters.bool_value("dangling", ["false", "1"]) is True
    assert filters.bool_value("all", ["0"]) is False
    with pytest.raises(errors.InvalidParameter) as e:
        filters.bool_value("dangling", ["maybe"])
    assert e.value.message == "invalid filter 'dangling=maybe'"
    filters.check_keys({"label": ["a"]}, ("label",))
    with pytest.raises(errors.InvalidParameter) as e:
        filters.check_keys({"nope": []}, ("label",))
    assert e.value.message == "invalid filter 'nope'"


def test_prune_selector() -> None:
    """until bounds the age; every label must match; label! keeps what matches all of its."""
    pick = filters.prune_selector({"until": ["1h"], "label": ["k"], "label!": ["k=1"]}, NOW)
    old = NOW - 7200
    assert pick(old, {"k": "2"})
    assert not pick(NOW - 60, {"k": "2"})  # too young
    assert not pick(old, {"k": "1"})  # label! matches
    assert not pick(old, {})  # label missing
    keep_both = filters.prune_selector({"label!": ["a", "b"]}, NOW)
    assert keep_both(old, {"a": "1"}) and not keep_both(old, {"a": "1", "b": "2"})
    with pytest.raises(errors.InvalidParameter) as e:
        filters.prune_selector({"dangling": ["true"]}, NOW)
    assert e.value.message == "invalid filter 'dangling'"
    with pytest.raises(errors.InvalidParameter, match="more than one until"):
        filters.prune_selector({"until": ["1s", "2s"]}, NOW)
