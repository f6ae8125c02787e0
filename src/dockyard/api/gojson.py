"""JSON bodies decoded as Go's encoding/json decodes them into dockerd's structs, and refused in
its words: `decode(raw, Model)` decodes with msgspec (fast, and it refuses what Go refuses),
reads the object as Go would (keys in any case, nulls as zero values: `normalize`), checks it
against the typed model (api/models.py), and words a failure as Go's `json.UnmarshalTypeError`:
`json: cannot unmarshal string into Go struct field HostConfig.HostConfig.Memory of type int64`.
The result is the same plain dict the services always took: they are unchanged, and a body that
passed the check has the types they expect. api/body.py reads the request first.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Union, get_args, get_origin, get_type_hints

import msgspec

from dockyard.api.models import GO, RANGES, WHOLE, Model
from dockyard.core.types import Json
from dockyard.errors import InvalidParameter


def decode(raw: bytes, model: type[Model]) -> Json | None:
    if not raw.strip():
        return None
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise InvalidParameter(syntax_error(raw)) from None
    if body is None:  # `null`: Go leaves the value as it was (the docker CLI's commit sends it)
        return None
    if not isinstance(body, dict):
        raise InvalidParameter(f"json: cannot unmarshal {_kind(body)} into Go value of type {model.__go__}")  # fmt: skip
    normalize(body, model)
    try:
        msgspec.convert(body, model, strict=True)
    except msgspec.ValidationError as exc:
        try:
            message = type_error(raw, model, str(exc))
        except Exception:  # a path this walk does not know: still Go's words, less precise
            message = f"json: cannot unmarshal object into Go value of type {model.__go__}"
        raise InvalidParameter(message) from None
    return body


def normalize(obj: dict[str, Any], model: type[Model]) -> None:
    """Read the object as Go does before it is checked: keys match field names whatever their
    case (docker-py sends `CPURealtimePeriod`; an exact key wins), `"Field": null` is the
    field left out and a null string in a list or map is "", so the services never see a None
    where the schema has a value."""
    fields = _fields(model)
    for key in list(obj):
        if key in fields.hints:
            if obj[key] is None:
                del obj[key]
            continue
        name = fields.folded.get(key.lower())
        if name is not None:
            value = obj.pop(key)
            if value is not None and name not in obj:
                obj[name] = value
    for key in fields.strings:
        value = obj.get(key)
        if isinstance(value, list) and None in value:
            obj[key] = ["" if v is None else v for v in value]
        elif isinstance(value, dict) and None in value.values():
            obj[key] = {k: "" if v is None else v for k, v in value.items()}
    for key, (many, sub) in fields.nested.items():
        value = obj.get(key)
        if not many:
            if isinstance(value, dict):
                normalize(value, sub)
        elif isinstance(value, list | dict):
            for item in value if isinstance(value, list) else value.values():
                if isinstance(item, dict):
                    normalize(item, sub)


class _Fields:
    """A model's fields as `normalize` and `type_error` read them, worked out once."""

    def __init__(self, model: type[Model]) -> None:
        hints = get_type_hints(model, include_extras=True)
        self.hints: dict[str, Any] = {k: hints[k] for k in model.__struct_fields__}
        self.folded = {name.lower(): name for name in self.hints}
        # fields holding structs: name -> (a list or map of them?, the struct's model)
        self.nested: dict[str, tuple[bool, type[Model]]] = {}
        for name, tp in self.hints.items():
            inner = _strip(tp)
            if isinstance(inner, type) and issubclass(inner, Model):
                self.nested[name] = (False, inner)
            elif get_origin(inner) in (list, dict):
                element = _strip(_element(tp))
                if isinstance(element, type) and issubclass(element, Model):
                    self.nested[name] = (True, element)
        # lists and maps of strings (Env, Labels, Cmd, ...): a null in them is Go's ""
        self.strings = tuple(name for name, tp in self.hints.items() if _of_strings(tp))


def _of_strings(tp: Any) -> bool:
    inner = _strip(tp)
    options = get_args(inner) if _is_union(inner) else (inner,)
    return any(get_origin(o) in (list, dict) and _strip(_element(o)) is str for o in options)


_FIELDS: dict[type[Model], _Fields] = {}


def _fields(model: type[Model]) -> _Fields:
    found = _FIELDS.get(model)
    if found is None:
        found = _FIELDS[model] = _Fields(model)
    return found


# -- Go's words -----------------------------------------------------------------------------


def syntax_error(raw: bytes) -> str:
    """A body msgspec cannot decode, in the words of Go's json.Decoder."""
    from dockyard.api.codec import go_json_error

    try:
        text = raw.decode()
    except UnicodeDecodeError:
        return "invalid character in request body: not UTF-8"
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(exc.doc.rstrip()):
            return "unexpected EOF"
        return go_json_error(exc)
    # what Python's json takes and Go's refuses: NaN, Infinity, lone surrogates
    bad = re.search(r"(?<![\"\w])(NaN|-?Infinity)", text)
    char = bad.group(1)[0] if bad else text.lstrip()[:1]
    return f"invalid character '{char}' looking for beginning of value"


_AT = re.compile(r" - at `\$(.*)`$")
_SEGMENT = re.compile(r"\.(\w+)|\[(\d+)\]|\[\.\.\.\]")


class _Float(float):
    """A float that remembers its JSON literal: Go's message quotes it (`number 1e99`)."""

    literal = ""


def _float(text: str) -> _Float:
    value = _Float(text)
    value.literal = text
    return value


_LITERAL = msgspec.json.Decoder(float_hook=_float)


def type_error(raw: bytes, model: type[Model], message: str) -> str:
    """msgspec's ValidationError (`Expected ..., got ... - at `$.HostConfig.Memory``) as Go's
    UnmarshalTypeError: the innermost struct, the field path from the top (no indices or map
    keys), the Go type and the JSON kind of the offending value."""
    m = _AT.search(message)
    segments = _SEGMENT.finditer(m.group(1)) if m else iter(())
    value: Any = _LITERAL.decode(raw)
    if isinstance(value, dict):
        normalize(value, model)  # the keys msgspec's path names
    tp: Any = model
    struct: type[Model] = model
    fields: list[str] = []
    for seg in segments:
        name, index = seg.group(1), seg.group(2)
        if name is not None:
            struct = _struct(tp)
            tp = _fields(struct).hints[name]
            fields.append(name)
            value = value.get(name)
            if _meta(tp, WHOLE):
                break
        elif index is not None:
            tp = _element(tp)
            value = value[int(index)]
        else:  # a map value: msgspec does not say which, the first one that fails is it
            tp = _element(tp)
            value = _first_invalid(value, tp)
    go_type = _go(tp)
    kind = _kind(value)
    if kind == "number" and go_type.lstrip("*") in RANGES:
        kind = f"number {value.literal if isinstance(value, _Float) else value}"
    if not fields:
        return f"json: cannot unmarshal {kind} into Go value of type {go_type}"
    where = f"{struct.go_struct()}.{'.'.join(fields)}"
    return f"json: cannot unmarshal {kind} into Go struct field {where} of type {go_type}"


def _first_invalid(mapping: dict[str, Any], tp: Any) -> Any:
    for item in mapping.values():
        try:
            msgspec.convert(item, tp, strict=True)
        except msgspec.ValidationError:
            return item
    return None


def _strip(tp: Any) -> Any:
    """`tp` without Annotated and without `| None`."""
    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
            continue
        args = get_args(tp)
        if _is_union(tp) and type(None) in args:
            rest = [a for a in args if a is not type(None)]
            tp = rest[0] if len(rest) == 1 else Union[tuple(rest)]  # noqa: UP007
            continue
        return tp


def _is_union(tp: Any) -> bool:
    import types

    return get_origin(tp) in (Union, types.UnionType)


def _meta(tp: Any, key: str) -> Any:
    while True:
        if get_origin(tp) is Annotated:
            for meta in get_args(tp)[1:]:
                if isinstance(meta, msgspec.Meta) and meta.extra and key in meta.extra:
                    return meta.extra[key]
            tp = get_args(tp)[0]
        elif _is_union(tp):
            inner = [a for a in get_args(tp) if a is not type(None)]
            if len(inner) != 1:
                return None
            tp = inner[0]
        else:
            return None


def _struct(tp: Any) -> type[Model]:
    inner = _strip(tp)
    assert isinstance(inner, type) and issubclass(inner, Model)
    return inner


def _element(tp: Any) -> Any:
    inner = _strip(tp)
    args = get_args(inner)
    return args[-1] if args else Any


def _go(tp: Any) -> str:
    named = _meta(tp, GO)
    if named:
        return str(named)
    inner = _strip(tp)
    if isinstance(inner, type) and issubclass(inner, Model):
        return inner.__go__
    if inner is str:
        return "string"
    if inner is bool:
        return "bool"
    origin = get_origin(inner)
    if origin is list:
        return "[]" + _go(get_args(inner)[0])
    if origin is dict:
        return "map[string]" + _go(get_args(inner)[1])
    return "interface {}"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
