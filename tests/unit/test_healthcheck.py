"""Healthchecks (#15, E6), the pure parts: HEALTHCHECK as dockerd 20.10's builder reads it (its
words, its history text), Go durations both ways, dockerd's config merge and validation, the ps
Status text and health filter."""

from __future__ import annotations

import pytest

from dockyard.core import timefmt
from dockyard.core.container import ContainerRecord, HealthState
from dockyard.errors import InvalidParameter
from dockyard.images import healthcheck
from dockyard.services.containers import record, status
from dockyard.services.containers.health import probe_argv

S = 1_000_000_000


def test_instruction_forms_and_flags() -> None:
    flags = {"interval": "1s", "timeout": "2s", "start-period": "500ms", "retries": "3"}
    hc = healthcheck.parse("CMD echo ok", flags)
    assert hc == {"Test": ["CMD-SHELL", "echo ok"], "Interval": S, "Timeout": 2 * S,
                  "StartPeriod": S // 2, "Retries": 3}  # fmt: skip
    assert healthcheck.parse('cmd ["true", "x"]', {}) == {"Test": ["CMD", "true", "x"]}
    assert healthcheck.parse("NONE", {}) == {"Test": ["NONE"]}
    # the history text dockerd 20.10 writes (checked against it)
    assert healthcheck.history(hc) == (
        'HEALTHCHECK &{["CMD-SHELL" "echo ok"] "1s" "2s" "500ms" \'\\x03\'}'
    )
    assert healthcheck.history({"Test": ["NONE"]}) == (
        'HEALTHCHECK &{["NONE"] "0s" "0s" "0s" \'\\x00\'}'
    )


@pytest.mark.parametrize(
    ("rest", "flags", "word"),
    [
        ("FOO true", {}, 'Unknown type "FOO" in HEALTHCHECK (try CMD)'),
        ("CMD", {}, "Missing command after HEALTHCHECK CMD"),
        ("NONE x", {}, "HEALTHCHECK NONE takes no arguments"),
        ("CMD true", {"retries": "0"}, "--retries must be at least 1 (not 0)"),
        ("CMD true", {"interval": "0s"}, 'Interval "interval" cannot be less than 1ms'),
        ("CMD true", {"timeout": "1"}, 'time: missing unit in duration "1"'),
        ("CMD true", {"start-period": "2x"}, 'time: unknown unit "x" in duration "2x"'),
    ],
)
def test_instruction_mistakes_get_dockerds_words(
    rest: str, flags: dict[str, str], word: str
) -> None:
    with pytest.raises(ValueError) as e:
        healthcheck.parse(rest, flags)
    assert str(e.value) == word


def test_a_new_healthcheck_keeps_the_parents_unset_fields() -> None:
    parent = {"Test": ["CMD-SHELL", "echo ok"], "Interval": S, "Retries": 3}
    assert healthcheck.merged({"Test": ["NONE"]}, parent) == {"Test": ["NONE"], "Interval": S,
                                                              "Retries": 3}  # fmt: skip
    assert (
        healthcheck.overridden(parent)
        == "Note: overriding previous HEALTHCHECK: [CMD-SHELL echo ok]\n"
    )
    assert healthcheck.overridden({"Test": ["NONE"]}) is None


def test_go_durations() -> None:
    for ns, text in ((0, "0s"), (300_000_000, "300ms"), (S, "1s"), (1_500_000_000, "1.5s"),
                     (90 * S, "1m30s"), (7200 * S, "2h0m0s")):  # fmt: skip
        assert timefmt.duration_text(ns) == text
        assert timefmt.parse_duration_ns(text) == ns
    with pytest.raises(ValueError, match='^time: invalid duration "x"$'):
        timefmt.parse_duration_ns("x")


def test_create_merges_and_validates_as_dockerd() -> None:
    image = {"Test": ["CMD-SHELL", "true"], "Interval": S, "Retries": 2}
    assert record.merge_healthcheck(None, image) == image
    assert record.merge_healthcheck({"Test": ["NONE"]}, image) == {**image, "Test": ["NONE"]}
    assert record.merge_healthcheck({"Interval": 2 * S}, image) == {**image, "Interval": 2 * S}
    assert record.merge_healthcheck(None, None) is None
    with pytest.raises(InvalidParameter, match="^Interval in Healthcheck cannot be less than 1ms$"):
        record.validate_healthcheck({"Interval": 10})
    with pytest.raises(InvalidParameter, match="^Retries in Healthcheck cannot be negative$"):
        record.validate_healthcheck({"Retries": -1})
    record.validate_healthcheck({"Interval": 0, "Retries": 0})


def test_probe_argv() -> None:
    assert probe_argv({"Healthcheck": {"Test": ["CMD-SHELL", "x y"]}}) == ["/bin/sh", "-c", "x y"]
    assert probe_argv({"Healthcheck": {"Test": ["CMD-SHELL", "x"]}, "Shell": ["/bin/bash", "-c"]}) == [
        "/bin/bash", "-c", "x"]  # fmt: skip
    assert probe_argv({"Healthcheck": {"Test": ["CMD", "a", "b"]}}) == ["a", "b"]
    for test in (["NONE"], [], ["CMD"]):
        assert probe_argv({"Healthcheck": {"Test": test}}) is None
    assert probe_argv({}) is None


def _rec(health: HealthState | None) -> ContainerRecord:
    st = {"Status": "running", "StartedAt": "2026-12-06T00:00:00Z", "FinishedAt": "",
          "ExitCode": 0}  # fmt: skip
    return ContainerRecord("c" * 64, "x", "t", "i", {"State": st, "Config": {}}, health=health)


def test_ps_status_text_and_health_filter() -> None:
    now = timefmt.parse_rfc3339("2026-12-06T00:00:00Z") + 3.5
    for h, suffix in ((HealthState("starting"), " (health: starting)"),
                      (HealthState("healthy"), " (healthy)"),
                      (HealthState("unhealthy", 3), " (unhealthy)"), (None, "")):  # fmt: skip
        rec = _rec(h)
        assert status.status_text(rec.state, now, rec.health) == "Up 3 seconds" + suffix
        word = "none" if h is None else h.status
        assert status.matches(rec, {"health": [word]}, None)
        assert not status.matches(
            rec, {"health": ["healthy" if word != "healthy" else "none"]}, None
        )
    with pytest.raises(InvalidParameter, match="^Unrecognised filter value for health: ok$"):
        status.validate_filters({"health": ["ok"]})
