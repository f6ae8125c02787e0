"""A subset of Go's text/template, enough for docker's `--format`: fields, variables, pipelines,
if/else, range (with `$k, $v :=`), with, the function map of govalues, and `table` output."""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

from dockyard.cli.govalues import FUNCS, NO_VALUE, TemplateError, go_str, truthy

__all__ = ["Template", "TemplateError", "parse"]

_ACTION_RE = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)
_TOKEN_RE = re.compile(
    r"""\s*(?:
    (?P<str>"(?:[^"\\]|\\.)*") | (?P<raw>`[^`]*`) |
    (?P<num>-?\d+(?:\.\d+)?) | (?P<decl>:=) | (?P<op>[|(),=]) |
    (?P<var>\$\w*(?:\.\w+)*) | (?P<field>(?:\.\w+)+|\.) | (?P<ident>\w+)
    )""",
    re.X,
)


# NamedTuples rather than dataclasses: the dataclasses import alone costs ~10 ms of startup.
class Arg(NamedTuple):
    kind: str  # field, var, lit, ident, pipe
    value: Any
    chain: tuple[str, ...] = ()


class Pipeline(NamedTuple):
    decls: tuple[str, ...]
    commands: tuple[tuple[Arg, ...], ...]


class Node:
    """A parse-tree node; blocks (if/range/with) fill `body` and `orelse` while parsing."""

    __slots__ = ("kind", "text", "pipe", "body", "orelse")

    def __init__(self, kind: str, text: str = "", pipe: Pipeline | None = None) -> None:
        self.kind = kind  # text, action, if, range, with
        self.text = text
        self.pipe = pipe
        self.body: list[Node] = []
        self.orelse: list[Node] = []


def _tokens(src: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    src = src.rstrip()
    while pos < len(src):
        m = _TOKEN_RE.match(src, pos)
        if m is None or m.end() == pos:
            raise TemplateError(f'template: :1: unexpected "{src[pos:].strip()[:1]}" in command')
        pos = m.end()
        kind = m.lastgroup
        assert kind is not None
        out.append((kind, m.group(kind)))
    return out


def _parse_pipeline(toks: list[tuple[str, str]], i: int = 0) -> tuple[Pipeline, int]:
    decls: list[str] = []
    j = i
    while j < len(toks) and toks[j][0] == "var":
        j += 1
        if j < len(toks) and toks[j] == ("op", ","):
            j += 1
            continue
        break
    if j < len(toks) and toks[j][0] == "decl":
        decls = [t[1] for t in toks[i:j] if t[0] == "var"]
        i = j + 1
    commands: list[tuple[Arg, ...]] = []
    args: list[Arg] = []
    while i < len(toks):
        kind, text = toks[i]
        if kind == "op" and text == ")":
            break
        i += 1
        if kind == "op" and text == "|":
            commands.append(tuple(args))
            args = []
        elif kind == "op" and text == "(":
            sub, i = _parse_pipeline(toks, i)
            i += 1  # the closing paren
            args.append(Arg("pipe", sub))
        elif kind == "field":
            args.append(Arg("field", None, tuple(p for p in text.split(".") if p)))
        elif kind == "var":
            name, *chain = text.split(".")
            args.append(Arg("var", name, tuple(chain)))
        elif kind == "str":
            args.append(Arg("lit", json.loads(text)))
        elif kind == "raw":
            args.append(Arg("lit", text[1:-1]))
        elif kind == "num":
            args.append(Arg("lit", float(text) if "." in text else int(text)))
        elif kind == "ident" and text in ("true", "false", "nil"):
            args.append(Arg("lit", {"true": True, "false": False, "nil": None}[text]))
        elif kind == "ident":
            if text not in FUNCS:
                raise TemplateError(f'template: :1: function "{text}" not defined')
            args.append(Arg("ident", text))
        else:
            raise TemplateError(f"template: :1: unexpected {text!r} in command")
    commands.append(tuple(args))
    if any(not c for c in commands):
        raise TemplateError("template: :1: missing value for command")
    return Pipeline(tuple(decls), tuple(commands)), i


def _parse(src: str) -> list[Node]:
    root: list[Node] = []
    stack: list[tuple[Node, list[Node]]] = []  # open block, list currently filled
    current = root
    pos = 0
    trim_next = False
    for m in _ACTION_RE.finditer(src):
        text = src[pos : m.start()]
        if trim_next:
            text = text.lstrip()
        if m.group(1):
            text = text.rstrip()
        if "{{" in text:
            raise TemplateError("template: :1: unclosed action")
        if text:
            current.append(Node("text", text=text))
        pos = m.end()
        trim_next = bool(m.group(3))
        body = m.group(2).strip()
        if body.startswith("/*"):
            continue
        word, _, rest = body.partition(" ")
        if word in ("if", "range", "with"):
            node = Node(word, pipe=_parse_pipeline(_tokens(rest))[0])
            current.append(node)
            stack.append((node, current))
            current = node.body
        elif word == "else":
            if not stack:
                raise TemplateError("template: :1: unexpected {{else}}")
            node = stack[-1][0]
            if rest.startswith("if "):
                # `else if` is an if nested in the else branch that shares the closing end.
                inner = Node("if", pipe=_parse_pipeline(_tokens(rest[3:]))[0])
                node.orelse.append(inner)
                stack[-1] = (inner, stack[-1][1])
                current = inner.body
            else:
                current = node.orelse
        elif word == "end":
            if not stack:
                raise TemplateError("template: :1: unexpected {{end}}")
            current = stack.pop()[1]
        else:
            current.append(Node("action", pipe=_parse_pipeline(_tokens(body))[0]))
    if stack:
        raise TemplateError("template: :1: unexpected EOF")
    tail = src[pos:]
    if trim_next:
        tail = tail.lstrip()
    if "{{" in tail:
        raise TemplateError("template: :1: unclosed action")
    if tail:
        current.append(Node("text", text=tail))
    return root


def _field(value: Any, name: str, chain: str) -> Any:
    if value is NO_VALUE:
        return NO_VALUE
    if isinstance(value, dict):
        return value.get(name, NO_VALUE)
    if value is None:
        raise TemplateError(
            f'template: :1: executing "" at <{chain}>: nil pointer evaluating interface {{}}.{name}'
        )
    attr = getattr(value, name, None) if not name.startswith("_") else None
    if attr is None:
        raise TemplateError(
            f'template: :1: executing "" at <{chain}>: can\'t evaluate field {name} in type {type(value).__name__}'
        )
    return attr() if callable(attr) else attr


class Template:
    """A parsed template; `execute(data)` renders it. Variables live in one scope stack."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.nodes = _parse(source)

    def execute(self, data: Any) -> str:
        out: list[str] = []
        self._run(self.nodes, data, [{"$": data}], out)
        return "".join(out)

    def _run(
        self, nodes: list[Node], dot: Any, scope: list[dict[str, Any]], out: list[str]
    ) -> None:
        for node in nodes:
            if node.kind == "text":
                out.append(node.text)
                continue
            assert node.pipe is not None
            if node.kind == "range":
                self._range(node, dot, scope, out)
                continue
            value = self._pipe(node.pipe, dot, scope)
            if node.kind == "action":
                if not node.pipe.decls:
                    out.append(go_str(value))
            elif node.kind == "if":
                self._run(node.body if truthy(value) else node.orelse, dot, scope, out)
            elif node.kind == "with":
                if truthy(value):
                    self._run(node.body, value, scope, out)
                else:
                    self._run(node.orelse, dot, scope, out)

    def _range(self, node: Node, dot: Any, scope: list[dict[str, Any]], out: list[str]) -> None:
        assert node.pipe is not None
        plain = Pipeline((), node.pipe.commands)
        value = self._pipe(plain, dot, scope)
        if isinstance(value, dict):
            items = [(k, value[k]) for k in sorted(value)]
        elif isinstance(value, list | tuple):
            items = list(enumerate(value))
        elif value is NO_VALUE or value is None:
            items = []
        elif isinstance(value, int):
            items = [(i, i) for i in range(value)]
        else:
            raise TemplateError(f"template: :1: range can't iterate over {go_str(value)}")
        if not items:
            self._run(node.orelse, dot, scope, out)
            return
        decls = node.pipe.decls
        for key, elem in items:
            frame: dict[str, Any] = {}
            if len(decls) == 1:
                frame[decls[0]] = elem
            elif len(decls) == 2:
                frame[decls[0]], frame[decls[1]] = key, elem
            self._run(node.body, elem, [*scope, frame], out)

    def _pipe(self, pipe: Pipeline, dot: Any, scope: list[dict[str, Any]]) -> Any:
        value: Any = NO_VALUE
        piped = False
        for cmd in pipe.commands:
            value = self._command(cmd, dot, scope, value if piped else None, piped)
            piped = True
        for name in pipe.decls:
            scope[-1][name] = value
        return value

    def _command(
        self, cmd: tuple[Arg, ...], dot: Any, scope: list[dict[str, Any]], prev: Any, piped: bool
    ) -> Any:
        head = cmd[0]
        if head.kind == "ident":
            args = [self._arg(a, dot, scope) for a in cmd[1:]]
            if piped:
                args.append(prev)
            try:
                return FUNCS[head.value](*args)
            except TemplateError:
                raise
            except (TypeError, ValueError, KeyError, AttributeError) as exc:
                raise TemplateError(
                    f'template: :1: executing "" at <{head.value}>: error calling {head.value}: {exc}'
                ) from None
        if len(cmd) > 1 or piped:
            raise TemplateError(f"template: :1: can't give argument to non-function {head.kind}")
        return self._arg(head, dot, scope)

    def _arg(self, arg: Arg, dot: Any, scope: list[dict[str, Any]]) -> Any:
        if arg.kind == "lit":
            return arg.value
        if arg.kind == "pipe":
            return self._pipe(arg.value, dot, scope)
        if arg.kind == "ident":
            return FUNCS[arg.value]()
        if arg.kind == "var":
            for frame in reversed(scope):
                if arg.value in frame:
                    value = frame[arg.value]
                    break
            else:
                raise TemplateError(f"template: :1: undefined variable: {arg.value}")
            base = arg.value
        else:
            value, base = dot, ""
        for name in arg.chain:
            base += "." + name
            value = _field(value, name, base)
        return value


def parse(source: str) -> Template:
    return Template(source)
