"""`json.loads`/`json.load`/`json.dumps` for the plugin and the state store, without importing the json package.

`import json` compiles five regular expressions and with them loads `re` and `enum`: ~1-6 ms on every
plugin call (one process per ADD/DEL/VERSION). The work itself is done by the C accelerator `_json` that
json uses too; this module only wires it up. Same text, same values, same errors: anything outside the
plain cases (a BOM or UTF-16/32 input, text the scanner rejects, a non-str key, a subclass of a JSON type,
an unknown type, a cycle, indent other than None/int) is handed to the json package itself.

    >>> loads(b' {"a": [1, 2.5, null, true, "\\\\u00e9"]} ')
    {'a': [1, 2.5, None, True, 'é']}
    >>> dumps({"a": [1, {}], "b": "é"}), dumps({"a": [1, {}]}, indent=1)
    ('{"a": [1, {}], "b": "\\\\u00e9"}', '{\\n "a": [\\n  1,\\n  {}\\n ]\\n}')
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import IO, Any

__all__ = ["dumps", "load", "loads"]

_WS = " \t\n\r"  # json's whitespace
_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}


class _Context:
    """What json.decoder.JSONDecoder() gives the C scanner: its default settings."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_CONSTANTS.__getitem__)


_scan = _json.make_scanner(_Context())  # type: ignore[arg-type]  # the stub wants a JSONDecoder-like object


def _json_module() -> Any:
    import json

    return json


def loads(s: str | bytes | bytearray) -> Any:
    """json.loads(s)."""
    text: str | None = None
    if isinstance(s, str):
        if not s.startswith("\ufeff"):
            text = s
    elif isinstance(s, (bytes, bytearray)):
        head = bytes(s[:4])
        if b"\0" not in head and not head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
            try:
                text = s.decode("utf-8", "surrogatepass")  # json.detect_encoding's answer for such input
            except UnicodeDecodeError:
                text = None
    if text is not None:
        start = len(text) - len(text.lstrip(_WS))
        try:
            obj, end = _scan(text, start)
        except Exception:  # noqa: BLE001 - StopIteration, a decoding error: json says it in its words
            pass
        else:
            if not text[end:].strip(_WS):
                return obj
    return _json_module().loads(s)


def load(fp: IO[str]) -> Any:
    """json.load(fp)."""
    return loads(fp.read())


def _floatstr(o: float) -> str:
    if o != o:
        return "NaN"
    if o == _CONSTANTS["Infinity"]:
        return "Infinity"
    if o == _CONSTANTS["-Infinity"]:
        return "-Infinity"
    return float.__repr__(o)


class _Unusual(Exception):
    """Something json's pure-Python encoder should handle itself."""


def _indented(o: Any, indent: str, level: int, out: list[str], depth: int) -> None:
    """json's _make_iterencode for the plain types (exact dict/list/tuple/str/int/float/bool/None)."""
    t = type(o)
    if t is str:
        out.append(_json.encode_basestring_ascii(o))
    elif o is None:
        out.append("null")
    elif o is True:
        out.append("true")
    elif o is False:
        out.append("false")
    elif t is int:
        out.append(int.__repr__(o))
    elif t is float:
        out.append(_floatstr(o))
    elif t is list or t is tuple or t is dict:
        if depth > 200:
            raise _Unusual  # deep (or circular): json's own checks and messages
        if not o:
            out.append("{}" if t is dict else "[]")
            return
        inner = "\n" + indent * (level + 1)
        out.append("{" if t is dict else "[")
        first = True
        for item in o:
            out.append(inner if first else "," + inner)
            first = False
            if t is dict:
                if type(item) is not str:
                    raise _Unusual
                out.append(_json.encode_basestring_ascii(item))
                out.append(": ")
                _indented(o[item], indent, level + 1, out, depth + 1)
            else:
                _indented(item, indent, level + 1, out, depth + 1)
        out.append("\n" + indent * level + ("}" if t is dict else "]"))
    else:
        raise _Unusual


def _unusual(o: object) -> Any:
    raise _Unusual


def dumps(obj: Any, *, indent: int | None = None) -> str:
    """json.dumps(obj) or json.dumps(obj, indent=N)."""
    try:
        if indent is None:
            if type(obj) is str:
                return _json.encode_basestring_ascii(obj)
            # json.dumps' own C encoder, with its defaults: a fresh markers dict (check_circular), ensure_ascii,
            # no indent, ": " and ", ", no sort_keys, no skipkeys, allow_nan
            encode = _json.make_encoder({}, _unusual, _json.encode_basestring_ascii, None, ": ", ", ", False, False, True)
            return "".join(encode(obj, 0))
        if type(indent) is int:
            out: list[str] = []
            _indented(obj, " " * indent, 0, out, 0)
            return "".join(out)
    except (_Unusual, ValueError, RecursionError):
        pass
    return _json_module().dumps(obj, indent=indent)
