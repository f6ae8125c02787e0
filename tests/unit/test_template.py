"""Go text/template subset and tabwriter alignment used by `--format` (MISSION E2)."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.cli.govalues import TemplateError, go_float, go_sprintf
from dockyard.cli.tabwriter import align
from dockyard.cli.template import parse

DATA: dict[str, Any] = {
    "Id": "abc",
    "Config": {"Cmd": ["sh", "-c", "echo hi"], "Labels": {"b": "2", "a": "1"}, "Tty": False},
    "State": {"Pid": 42, "Running": True},
    "Empty": [],
    "Nil": None,
    "Ratio": 1.5,
    "Names": ["x", "y"],
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{.Id}}", "abc"),
        ("{{.State.Pid}}", "42"),
        ("{{.State.Running}}", "true"),
        ("{{json .Config.Cmd}}", '["sh","-c","echo hi"]'),
        ("{{.Config.Cmd | json}}", '["sh","-c","echo hi"]'),
        ("{{json .State}}", '{"Pid":42,"Running":true}'),
        ("{{range .Names}}[{{.}}]{{end}}", "[x][y]"),
        ("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}} {{end}}", "a=1 b=2 "),
        ("{{range $i, $n := .Names}}{{$i}}:{{$n}},{{end}}", "0:x,1:y,"),
        ("{{range .Empty}}x{{else}}none{{end}}", "none"),
        ('{{index .Config.Labels "b"}}', "2"),
        ("{{index .Names 1}}", "y"),
        ("{{len .Names}}", "2"),
        ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
        ("{{if .Empty}}a{{else if .Nil}}b{{else}}c{{end}}", "c"),
        ("{{with .State}}{{.Pid}}{{end}}", "42"),
        ("{{println .Id}}", "abc\n"),
        ("{{upper .Id}}", "ABC"),
        ("{{lower (upper .Id)}}", "abc"),
        ('{{join .Names ","}}', "x,y"),
        ('{{title "hello world"}}', "Hello World"),
        ('{{printf "%s=%d" .Id .State.Pid}}', "abc=42"),
        ('{{printf "%-5s|" .Id}}', "abc  |"),
        ("{{.Missing}}", "<no value>"),
        ("{{.Config.Labels}}", "map[a:1 b:2]"),
        ("{{.Names}}", "[x y]"),
        ("{{.Ratio}}", "1.5"),
        ("{{.Nil}}", "<nil>"),
        ("a {{- .Id -}} b", "aabcb"),
        ("{{$x := .State}}{{$x.Pid}}", "42"),
        ('{{if eq .Id "abc"}}yes{{end}}', "yes"),
        ("{{if and .State.Running (not .Empty)}}ok{{end}}", "ok"),
        ("{{/* comment */}}x", "x"),
        ("{{range .Names}}{{$.Id}}{{end}}", "abcabc"),
    ],
)
def test_execute(source: str, expected: str) -> None:
    assert parse(source).execute(DATA) == expected


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{.Id", "unclosed action"),
        ("{{nosuch .Id}}", 'function "nosuch" not defined'),
        ("{{if .Id}}x", "unexpected EOF"),
        ("{{end}}", "unexpected {{end}}"),
    ],
)
def test_parse_errors(source: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        parse(source)


def test_nil_field_access_is_an_error_like_go() -> None:
    with pytest.raises(TemplateError, match="nil pointer"):
        parse("{{.Nil.X}}").execute(DATA)


def test_object_fields_are_methods_and_unknown_fields_fail() -> None:
    class Row:
        def ID(self) -> str:
            return "r1"

    assert parse("{{.ID}}").execute(Row()) == "r1"
    with pytest.raises(TemplateError, match="can't evaluate field Nope"):
        parse("{{.Nope}}").execute(Row())


def test_go_number_and_printf_formatting() -> None:
    assert go_float(1e6) == "1e+06"
    assert go_float(123456.0) == "123456"
    assert go_float(0.5) == "0.5"
    assert go_float(3.0) == "3"
    assert go_sprintf("%q", "a") == '"a"'
    assert go_sprintf("%v %v", True, [1, 2]) == "true [1 2]"
    assert go_sprintf("%s") == "%!s(MISSING)"


def test_tabwriter_matches_docker_ps_header() -> None:
    text = 'CONTAINER ID\tIMAGE\tCOMMAND\tNAMES\n6ce2d3278287\tbusybox\t"sleep 1000"\tt1\n'
    assert align(text) == (
        "CONTAINER ID   IMAGE     COMMAND        NAMES\n"
        '6ce2d3278287   busybox   "sleep 1000"   t1\n'
    )


def test_tabwriter_minwidth_and_last_cell_unpadded() -> None:
    assert align("a\tb\n") == "a         b\n"
    assert align("a\tb\n", minwidth=20, padding=1) == "a" + " " * 19 + "b\n"


def test_tabwriter_column_blocks_are_independent() -> None:
    # A line without a cell in column 0 ends that column's block, as in Go.
    text = "long-cell-value\tx\nnocell\nab\ty\n"
    assert align(text) == "long-cell-value   x\nnocell\nab        y\n"
