"""Shell-word expansion as buildkit's shell/lex.go does it (MISSION S1)."""

from __future__ import annotations

import pytest

from dockyard.dockerfile import expand, steps
from dockyard.dockerfile.parser import parse_line
from dockyard.errors import InvalidParameter

ENV = {"A": "one", "EMPTY": "", "P": "/usr"}


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("$A", "one"),
        ("${A}x", "onex"),
        ("${UNSET:-def}", "def"),
        ("${EMPTY:-def}", "def"),
        ("${EMPTY-def}", ""),
        ("${A:+set}", "set"),
        ("${UNSET:+set}", ""),
        ("'$A'", "$A"),
        ('"$A b"', "one b"),
        ("\\$A", "$A"),
        ("${P}/bin", "/usr/bin"),
        ("a$", "a$"),
    ],
)
def test_word(text: str, want: str) -> None:
    assert expand.word(text, ENV) == want


def test_words_split_on_unquoted_space() -> None:
    assert expand.words('a "b c" $A', ENV) == ["a", "b c", "one"]


def test_errors() -> None:
    with pytest.raises(InvalidParameter):
        expand.word("${A", ENV)
    with pytest.raises(InvalidParameter, match="UNSET: must be set"):
        expand.word("${UNSET:?must be set}", ENV)


def test_env_and_label_pairs() -> None:
    assert expand.key_values("ENV", 'X=1 Y="two words" Z=$A', ENV, "\\") == [
        ("X", "1"), ("Y", "two words"), ("Z", "one"),
    ]  # fmt: skip
    assert expand.key_values("ENV", "X hello  world", ENV, "\\") == [("X", "hello  world")]


def test_metadata_steps() -> None:
    cfg = {"Env": ["PATH=/bin"], "Cmd": ["sh"]}
    new, comment = steps.apply(
        parse_line(1, 'ENTRYPOINT ["top"]'), cfg, {}, "\\", ["/bin/sh", "-c"]
    )
    assert new["Entrypoint"] == ["top"] and new["Cmd"] is None
    assert comment == 'ENTRYPOINT ["top"]'
    new, _ = steps.apply(parse_line(1, "WORKDIR $P/src"), cfg, ENV, "\\", [])
    assert new["WorkingDir"] == "/usr/src"
    new, comment = steps.apply(parse_line(1, "EXPOSE 80 53/UDP"), cfg, {}, "\\", [])
    assert set(new["ExposedPorts"]) == {"80/tcp", "53/udp"}
    hc = parse_line(1, "HEALTHCHECK --interval=5s --retries=2 CMD true")
    new, _ = steps.apply(hc, cfg, {}, "\\", [])
    assert new["Healthcheck"] == {
        "Test": ["CMD-SHELL", "true"],
        "Interval": 5_000_000_000,
        "Retries": 2,
    }
