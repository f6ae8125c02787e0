"""Dockerfile parsing (MISSION S1): directives, comments, continuations, forms, flags, errors."""

from __future__ import annotations

import pytest

from dockyard.dockerfile import parser
from dockyard.dockerfile.plan import BuildOptions, make_plan
from dockyard.errors import InvalidParameter


def test_continuations_comments_and_forms() -> None:
    text = (
        "# a comment\nFROM busybox AS base\nRUN echo a \\\n  # inside\n    && echo b\n"
        'CMD ["sh", "-c", "echo hi"]\nENTRYPOINT echo x\nCOPY --from=base --chown=1:2 /a /b\n'
    )
    ins = parser.parse(text)
    assert [i.cmd for i in ins] == ["FROM", "RUN", "CMD", "ENTRYPOINT", "COPY"]
    assert ins[1].rest == "echo a     && echo b" and ins[1].line == 3
    assert ins[2].json == ["sh", "-c", "echo hi"]
    assert ins[3].json is None and ins[3].rest == "echo x"
    assert ins[4].flags == {"from": "base", "chown": "1:2"} and ins[4].rest == "/a /b"


def test_escape_directive() -> None:
    ins = parser.parse("# escape=`\nFROM busybox\nRUN echo a `\n  b\n")
    assert ins[1].rest == "echo a   b"


def test_unterminated_json_is_shell_form() -> None:
    ins = parser.parse('FROM busybox\nCMD ["a"\n')
    assert ins[1].json is None and ins[1].rest == '["a"'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FROM busybox\nFOO bar\n", "dockerfile parse error line 2: unknown instruction: FOO"),
        ("FROM busybox\nSHELL sh -c\n", "dockerfile parse error line 2: SHELL requires the arguments to be in JSON form"),
        ("FROM busybox\nCOPY --bad=1 a b\n", "dockerfile parse error line 2: Unknown flag: bad"),
        ("FROM busybox\nONBUILD ONBUILD RUN x\n", "dockerfile parse error line 2: chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        ("", "the Dockerfile (Dockerfile) cannot be empty"),
    ],
)  # fmt: skip
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as e:
        parser.parse(text)
    assert e.value.message == message


def test_plan_stages_target_and_labels() -> None:
    ins = parser.parse("ARG V=1\nFROM busybox AS one\nRUN a\nFROM one\nRUN b\n")
    plan = make_plan(ins, "\\", BuildOptions(target="one", labels={"k": "v"}))
    assert [s.name for s in plan.stages] == ["one"]
    assert plan.total == 1 + 1 + 1 + 1  # ARG, FROM, RUN, the added LABEL
    assert plan.stages[0].commands[-1].original == "LABEL \"k\"='v'"
    with pytest.raises(InvalidParameter, match="no build stage in current context"):
        make_plan(parser.parse("RUN x\n"), "\\", BuildOptions())
    with pytest.raises(InvalidParameter, match="failed to reach build target nope"):
        make_plan(ins, "\\", BuildOptions(target="nope"))
