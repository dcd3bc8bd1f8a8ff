"""Text as it arrives from upstream, made safe to store, and folded for search.

Three small jobs, each done in one place:

- `clean()`: the one sanitizer every text column passes at ingest. A lone UTF-16 surrogate
  (JSON `"\\ud83d"` without its pair) cannot be encoded as UTF-8, so neither SQLite nor
  PostgreSQL can store it; it becomes U+FFFD. NUL, which PostgreSQL text cannot hold, is
  dropped.
- `strip_escapes()`: terminal control sequences (colours, cursor moves, titles) removed, so
  that `"\\x1b[31mFAILED\\x1b[0m"` reads and searches as `FAILED`.
- `fold()`: the comparison form of a text for search, applied to the stored text and to the
  query alike: case folded (`ß` → `ss`), compatibility-decomposed, combining marks dropped
  (`İ` → `i`, `é` → `e`). `fold_with_map()` also says where each folded character came from,
  so that a match can be highlighted in the original text.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from functools import cache
from typing import Any

import orjson

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")

# ECMA-48 escape sequences: CSI (colours, cursor movement), OSC (titles, hyperlinks; ended by
# BEL or ST), other two-character escapes, and the 8-bit CSI. Other C0 controls but tab,
# newline and carriage return carry nothing a reader needs.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[@-Z\\-_]"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f]"
)


def clean(value: str) -> str:
    """A string every database can store: lone surrogates → U+FFFD, NUL removed."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    if value.isascii():
        return value
    return _SURROGATE.sub(REPLACEMENT, value)


def clean_tree(value: Any) -> Any:
    """`clean()` applied to every string (keys included) of a decoded JSON value."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {clean(k): clean_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_tree(v) for v in value]
    return value


def has_lone_surrogate_escape(json_text: str) -> bool:
    """Whether stored JSON carries an escaped lone surrogate (`\\udXXX` without its pair).

    Cheap enough to call on every event shown: stored JSON escapes nothing else that way.
    """
    return "\\ud" in json_text or "\\uD" in json_text


def dumps(value: Any) -> str:
    """JSON as upstream sent it, storable: lone surrogates stay escaped (`\\ud83d`), exactly as
    a JavaScript server's JSON.stringify writes them, and everything else stays as it is.

    orjson writes it (several times faster, and like JSON.stringify it writes NaN as null);
    what orjson refuses (a lone surrogate, an integer past 64 bits) takes the slower path."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        pass
    out = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if out.isascii() or not _SURROGATE.search(out):
        return out
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", out)


def strip_escapes(value: str) -> str:
    """The text without terminal escape sequences and stray control characters."""
    if "\x1b" not in value and "\x9b" not in value and value.isprintable():
        return value
    return _ESCAPES.sub("", value)


# Where combining characters live: the planes below 0x30000 and the variation selectors
# supplement (nothing else of Unicode is a combining character).
_COMBINING_RANGES = (range(0x300, 0x30000), range(0xE0100, 0xE01F0))


@cache
def _combining() -> dict[int, None]:
    """Every combining character (accents; the dot a Turkish İ keeps after case folding)."""
    return {
        cp: None for block in _COMBINING_RANGES for cp in block if unicodedata.combining(chr(cp))
    }


def fold(value: str) -> str:
    """The search form of a text: case folded, compatibility-decomposed, without accents."""
    if value.isascii():
        return value.lower()
    return unicodedata.normalize("NFKD", value.casefold()).translate(_combining())


def fold_with_map(value: str) -> tuple[str, list[int]]:
    """`fold(value)` and, for each of its characters, the index in `value` it came from."""
    if value.isascii():
        return value.lower(), list(range(len(value)))
    folded: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(value):
        part = fold(char)
        folded.append(part)
        origin.extend([index] * len(part))
    return "".join(folded), origin


def find_all(value: str, query: str) -> Iterator[tuple[int, int]]:
    """(start, end) spans of `value` whose folded form contains the folded `query`.

    Spans never overlap; an empty query finds nothing.
    """
    needle = fold(query)
    if not needle:
        return
    folded, origin = fold_with_map(value)
    start = folded.find(needle)
    while start != -1:
        end = start + len(needle)
        yield origin[start], origin[end - 1] + 1
        start = folded.find(needle, end)


def strings_in(value: Any) -> Iterator[str]:
    """Every string value of a decoded JSON value, depth first (keys are not content).

    A string that is itself JSON (the CLI sends tool inputs as JSON text with `\\u0026`
    escapes) also yields the strings inside it, decoded, so `&&` is found where the CLI sent
    `\\u0026\\u0026`.
    """
    if isinstance(value, str):
        yield value
        stripped = value.lstrip()
        if stripped[:1] in ("{", "[") and "\\u" in value and len(value) < 1_000_000:
            try:
                inner = json.loads(value)
            except ValueError:
                return
            if isinstance(inner, dict | list):
                yield from strings_in(inner)
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)
