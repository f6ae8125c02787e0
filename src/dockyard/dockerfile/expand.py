"""Shell-word expansion of Dockerfile arguments as buildkit's shell/lex.go does it, pure:
`$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR-word}`, `${VAR:+word}`, `${VAR+word}`, `${VAR:?msg}`,
single quotes (literal), double quotes (expansion, no splitting), the escape character, and
splitting into words on unquoted whitespace. RUN/CMD/ENTRYPOINT are never expanded here (the
container's shell does it); every other instruction's arguments are.
"""

from __future__ import annotations

from collections.abc import Mapping

from dockyard.errors import InvalidParameter


class _Lexer:
    def __init__(self, text: str, env: Mapping[str, str], escape: str) -> None:
        self.s = text
        self.i = 0
        self.env = env
        self.escape = escape

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def next(self) -> str:
        ch = self.peek()
        self.i += 1
        return ch

    def words(self, split: bool) -> list[str]:
        out: list[str] = []
        cur: list[str] = []
        started = False
        while self.i < len(self.s):
            ch = self.peek()
            if split and ch in " \t\n":
                self.i += 1
                if started:
                    out.append("".join(cur))
                    cur, started = [], False
                continue
            started = True
            if ch == "'":
                self.i += 1
                cur.append(self._single())
            elif ch == '"':
                self.i += 1
                cur.append(self._double())
            elif ch == "$":
                self.i += 1
                cur.append(self._dollar())
            elif ch == self.escape:
                self.i += 1
                if self.i < len(self.s):
                    cur.append(self.next())
            else:
                cur.append(self.next())
        if started:
            out.append("".join(cur))
        return out

    def _single(self) -> str:
        end = self.s.find("'", self.i)
        if end < 0:
            raise InvalidParameter(
                "unexpected end of statement while looking for matching single-quote"
            )
        word = self.s[self.i : end]
        self.i = end + 1
        return word

    def _double(self) -> str:
        out: list[str] = []
        while True:
            if self.i >= len(self.s):
                raise InvalidParameter(
                    "unexpected end of statement while looking for matching double-quote"
                )
            ch = self.next()
            if ch == '"':
                return "".join(out)
            if ch == "$":
                out.append(self._dollar())
            elif ch == self.escape and self.peek() in ('"', "$", self.escape):
                out.append(self.next())
            else:
                out.append(ch)

    def _name(self) -> str:
        start = self.i
        while self.i < len(self.s) and (self.s[self.i].isalnum() or self.s[self.i] == "_"):
            self.i += 1
        return self.s[start : self.i]

    def _dollar(self) -> str:
        ch = self.peek()
        if ch != "{":
            name = self._name()
            if not name:
                return "$"
            return self.env.get(name, "")
        self.i += 1
        name = self._name()
        if not name:
            raise InvalidParameter(f"bad substitution: {self.s}")
        ch = self.next()
        if ch == "}":
            return self.env.get(name, "")
        colon = ch == ":"
        if colon:
            ch = self.next()
        if ch not in "-+?" or not ch:
            raise InvalidParameter(f"unsupported modifier ({ch}) in substitution: {self.s}")
        word = self._until_brace()
        value = self.env.get(name)
        is_set = value is not None and (not colon or value != "")
        if ch == "-":
            return value if is_set and value is not None else word
        if ch == "+":
            return word if is_set else ""
        if not is_set:  # "?"
            raise InvalidParameter(f"{name}: {word or 'is not allowed to be unset'}")
        return value or ""

    def _until_brace(self) -> str:
        out: list[str] = []
        while True:
            if self.i >= len(self.s):
                raise InvalidParameter(f"missing '}}' in substitution: {self.s}")
            ch = self.peek()
            if ch == "}":
                self.i += 1
                return "".join(out)
            if ch == "$":
                self.i += 1
                out.append(self._dollar())
            elif ch == "'":
                self.i += 1
                out.append(self._single())
            elif ch == '"':
                self.i += 1
                out.append(self._double())
            elif ch == self.escape:
                self.i += 1
                out.append(self.next())
            else:
                out.append(self.next())


def word(text: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """One word (ProcessWord): quotes removed, variables expanded, no splitting."""
    got = _Lexer(text, env, escape).words(split=False)
    return got[0] if got else ""


def words(text: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """Split on unquoted whitespace, then expand each word (ProcessWords)."""
    return _Lexer(text, env, escape).words(split=True)


def raw_words(text: str, escape: str = "\\") -> list[str]:
    """Split on unquoted whitespace keeping quotes and escapes (buildkit's parseWords), so each
    `key=value` of ENV/LABEL/ARG can be expanded on its own later."""
    out: list[str] = []
    cur: list[str] = []
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == escape and i + 1 < len(text) and quote != "'":
            cur.append(text[i : i + 2])
            i += 2
            continue
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in " \t\n":
            if cur:
                out.append("".join(cur))
                cur = []
            i += 1
            continue
        cur.append(ch)
        i += 1
    if cur:
        out.append("".join(cur))
    return out


def key_values(cmd: str, text: str, env: Mapping[str, str], escape: str) -> list[tuple[str, str]]:
    """ENV/LABEL pairs: `k=v k2="v 2"` or the legacy `k value with spaces` form."""
    parts = raw_words(text, escape)
    if not parts:
        raise InvalidParameter(f"{cmd} requires at least one argument")
    if "=" not in parts[0]:
        if len(parts) < 2:
            raise InvalidParameter(f"{cmd} must have two arguments")
        key = parts[0]
        value = text.strip()[len(key) :].strip()
        return [(word(key, env, escape), word(value, env, escape))]
    out = []
    for part in parts:
        if "=" not in part:
            raise InvalidParameter(
                f'Syntax error - can\'t find = in "{part}". Must be of the form: name=value'
            )
        k, v = part.split("=", 1)
        if not k:
            raise InvalidParameter(f"{cmd} names can not be blank")
        out.append((word(k, env, escape), word(v, env, escape)))
    return out
