"""Tool inputs as a reviewer reads them.

The CLI sends a tool's input as a JSON text, often cut to a preview, with JSON's escapes
(`\\u0026\\u0026`, `\\u003e`, `\\n`). A reviewer should read `cd app && ls > out`, one
`key: value` line per argument, not the escaped JSON.
"""

from __future__ import annotations

import json
import re
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

_ESCAPE = re.compile(r'\\(u[0-9a-fA-F]{4}(?:\\u[0-9a-fA-F]{4})?|["\\/bfnrt])')
_SIMPLE = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def unescape_json(text: str) -> str:
    """JSON string escapes decoded in text that is not (or no longer) valid JSON."""

    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if code[0] != "u":
            return _SIMPLE[code]
        if len(code) > 5:  # a surrogate pair, or two separate escapes
            try:
                return json.loads(f'"\\{code}"')
            except ValueError:
                return chr(int(code[1:5], 16)) + chr(int(code[7:11], 16))
        return chr(int(code[1:], 16))

    return _ESCAPE.sub(one, text)


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _lines(pairs: list[tuple[str, str]]) -> str:
    out = []
    for key, value in pairs:
        if "\n" in value:
            out.append(f"{key}:")
            out.extend("  " + line for line in value.split("\n"))
        else:
            out.append(f"{key}: {value}")
    return "\n".join(out)


def _skip_space(text: str, pos: int) -> int:
    """The first position at or after `pos` that is not white space."""
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _partial_object(text: str) -> list[tuple[str, str]] | None:
    """The key/value pairs of a JSON object cut short ("{"a": "x", "b": "long te…")."""
    pos = _skip_space(text, 1)
    pairs: list[tuple[str, str]] = []
    decoder = json.JSONDecoder()
    while pos < len(text) and text[pos] == '"':
        try:
            key, pos = scanstring(text, pos + 1)
        except ValueError:
            break
        pos = _skip_space(text, pos)
        if pos >= len(text) or text[pos] != ":":
            break
        pos = _skip_space(text, pos + 1)
        if pos >= len(text):
            pairs.append((key, "…"))
            break
        try:
            value, pos = decoder.raw_decode(text, pos)
        except ValueError:
            rest = text[pos + 1 :] if text[pos] == '"' else text[pos:]
            pairs.append((key, unescape_json(rest) + "…"))
            break
        pairs.append((key, _as_text(value)))
        pos = _skip_space(text, pos)
        if pos < len(text) and text[pos] == ",":
            pos = _skip_space(text, pos + 1)
    return pairs or None


def tool_input(value: Any) -> str:
    """A tool's input as `key: value` lines (JSON objects) or as decoded text (the rest)."""
    if isinstance(value, dict):
        return _lines([(str(k), _as_text(v)) for k, v in value.items()])
    if not isinstance(value, str):
        return "" if value is None else _as_text(value)
    text = value.strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
        if text.startswith("{"):
            pairs = _partial_object(text)
            if pairs:
                return _lines(pairs)
        return unescape_json(value)
    if isinstance(parsed, dict):
        return _lines([(str(k), _as_text(v)) for k, v in parsed.items()])
    if isinstance(parsed, str):
        return parsed
    return json.dumps(parsed, ensure_ascii=False, indent=2)
