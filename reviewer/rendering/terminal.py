"""Terminal output (a command's stdout and stderr) shown as the terminal showed it.

- ANSI SGR colours and attributes become spans with classes (`static/css/app.css` holds them
  for both themes; the CSP forbids inline styles). 256-colour and truecolor values map to
  the nearest of the 16 base colours, whose classes are tuned for contrast on both themes.
- Carriage returns, backspaces and the cursor and erase sequences progress bars use act as
  in a terminal: `"10%\\r60%\\r100%\\n"` is one line, `100%`.
- Every other escape sequence (titles, hyperlinks, modes, charsets) is removed.

Why not ansi2html: it leaves carriage returns and the non-colour sequences (window titles,
cursor modes) in its output and writes truecolor as one class per RGB value, so it would
need this module's screen model and escape stripping around it anyway; colour spans are the
small part of the job.

Rendering is linear: text without carriage returns or cursor movement takes a fast path
(escapes split off by one regex); other text goes through a small screen model whose line
edits are list-slice assignments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from html import escape
from itertools import groupby
from typing import NamedTuple

from django.utils.safestring import SafeString, mark_safe

from reviewer.rendering.failures import failed_tests
from reviewer.rendering.text import (
    HEAD_LINES,
    MAX_LINE_CHARS,
    TAIL_LINES,
    CutText,
    visible_controls,
)

# One escape sequence or stray control character (not \t, \n, \r or \b, handled apart).
_ESCAPE = re.compile(
    r"\x1b\[(?P<params>[0-?]*)[ -/]*(?P<final>[@-~])"  # CSI: colours, cursor, erase, modes
    r"|\x1b\][^\x07\x1b\n]*(?:\x07|\x1b\\)?"  # OSC: window titles, hyperlinks
    r"|\x1b[PX^_][^\x1b\n]*(?:\x1b\\)?"  # DCS, SOS, PM, APC strings
    r"|\x1b[ -/]*[0-~]?"  # other escapes (charsets, keypad modes), or a lone ESC
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
    r"|[\x00-\x07\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f-\x9f]"  # other C0 and all C1 controls
)
# What needs the screen model: carriage return, backspace, cursor movement, erasing.
_NEEDS_SCREEN = re.compile(r"[\r\x08]|\x1b\[[0-9;]*[A-GK]")

# xterm's 16 base colours, for mapping 256-colour and truecolor values to the nearest one.
_BASE_RGB = (
    (0, 0, 0),
    (205, 0, 0),
    (0, 205, 0),
    (205, 205, 0),
    (0, 0, 238),
    (205, 0, 205),
    (0, 205, 205),
    (229, 229, 229),
    (127, 127, 127),
    (255, 0, 0),
    (0, 255, 0),
    (255, 255, 0),
    (92, 92, 255),
    (255, 0, 255),
    (0, 255, 255),
    (255, 255, 255),
)


@lru_cache(maxsize=4096)
def nearest_base(r: int, g: int, b: int) -> int:
    """The base colour (0-15) closest to an RGB value ("redmean" weighted distance)."""

    def distance(c: tuple[int, int, int]) -> float:
        mean = (r + c[0]) / 2
        dr, dg, db = r - c[0], g - c[1], b - c[2]
        return (2 + mean / 256) * dr * dr + 4 * dg * dg + (2 + (255 - mean) / 256) * db * db

    return min(range(16), key=lambda i: distance(_BASE_RGB[i]))


def _xterm256(n: int) -> int:
    """A 256-colour index as one of the 16 base colours."""
    if n < 16:
        return n
    if n >= 232:
        level = 8 + (n - 232) * 10
        return nearest_base(level, level, level)
    n -= 16
    steps = (0, 95, 135, 175, 215, 255)
    return nearest_base(steps[n // 36], steps[(n // 6) % 6], steps[n % 6])


class Style(NamedTuple):
    fg: int | None = None
    bg: int | None = None
    bold: bool = False
    dim: bool = False
    italic: bool = False
    underline: bool = False
    inverse: bool = False
    strike: bool = False


PLAIN = Style()


@lru_cache(maxsize=1024)
def _classes(style: Style) -> str:
    names = []
    fg, bg = style.fg, style.bg
    if style.inverse:
        # Reversed video: the text's colour becomes the background, the page's the text.
        names.append("ansi-inverse" if fg is None else f"ansi-bg{fg}")
        fg = None
    if fg is not None:
        names.append(f"ansi-fg{fg}")
    elif style.dim:
        names.append("ansi-dim")
    if bg is not None and not style.inverse:
        names.append(f"ansi-bg{bg}")
    for flag, name in (
        (style.bold, "ansi-bold"),
        (style.italic, "ansi-italic"),
        (style.underline, "ansi-underline"),
        (style.strike, "ansi-strike"),
    ):
        if flag:
            names.append(name)
    return " ".join(names)


def _extended_colour(params: list[str], i: int) -> tuple[int | None, int]:
    """A 38/48 colour starting at params[i] ("5;n" or "2;r;g;b"); (colour, params used)."""
    if i < len(params) and params[i] == "5" and i + 1 < len(params):
        n = _int(params[i + 1])
        return (_xterm256(n) if 0 <= n <= 255 else None), 2
    if i < len(params) and params[i] == "2" and i + 3 < len(params):
        r, g, b = (max(0, min(255, _int(p))) for p in params[i + 1 : i + 4])
        return nearest_base(r, g, b), 4
    return None, len(params) - i


def _int(text: str) -> int:
    return int(text) if text.isdigit() else 0


@lru_cache(maxsize=2048)
def apply_sgr(style: Style, params_text: str) -> Style:
    """The style after one SGR sequence (`ESC [ params m`)."""
    params = re.split("[;:]", params_text) if params_text else ["0"]
    if params_text.startswith("38:") or params_text.startswith("48:"):
        params = [p for p in params if p != ""]  # 38:2::r:g:b names no colour space
    fields = style._asdict()
    i = 0
    while i < len(params):
        code = _int(params[i]) if params[i] else 0
        i += 1
        if code == 0:
            fields = dict.fromkeys(fields, False) | {"fg": None, "bg": None}
        elif code in (1, 2, 3, 4, 7, 9):
            fields[
                {1: "bold", 2: "dim", 3: "italic", 4: "underline", 7: "inverse", 9: "strike"}[code]
            ] = True
        elif code == 22:
            fields["bold"] = fields["dim"] = False
        elif code in (23, 24, 27, 29):
            fields[{23: "italic", 24: "underline", 27: "inverse", 29: "strike"}[code]] = False
        elif 30 <= code <= 37:
            fields["fg"] = code - 30
        elif 90 <= code <= 97:
            fields["fg"] = code - 90 + 8
        elif code == 39:
            fields["fg"] = None
        elif 40 <= code <= 47:
            fields["bg"] = code - 40
        elif 100 <= code <= 107:
            fields["bg"] = code - 100 + 8
        elif code == 49:
            fields["bg"] = None
        elif code in (38, 48, 58):
            colour, used = _extended_colour(params, i)
            i += used
            if code != 58 and colour is not None:
                fields["fg" if code == 38 else "bg"] = colour
    return Style(**fields)


Run = tuple[Style, str]


LINE_CUT = '<span class="cut">…</span>'


def _html(runs: list[Run], limit: int | None = None) -> str:
    out = []
    room = limit
    for style, text in runs:
        if not text:
            continue
        cut = room is not None and len(text) > room
        if room is not None:
            text = text[:room]
            room -= len(text)
        classes = _classes(style) if style != PLAIN else ""
        text = escape(text, quote=False)
        out.append(f'<span class="{classes}">{text}</span>' if classes else text)
        if cut:
            out.append(LINE_CUT)
            break
    return "".join(out)


def _fast_lines(text: str, style: Style) -> tuple[list[list[Run]], Style]:
    """Lines of styled runs for text with no carriage return or cursor movement."""
    lines: list[list[Run]] = [[]]
    pos = 0
    for match in _ESCAPE.finditer(text):
        _add_text(lines, style, text[pos : match.start()])
        pos = match.end()
        if match.group("final") == "m" and not (match.group("params") or "").startswith(
            ("?", ">", "<", "=")
        ):
            style = apply_sgr(style, match.group("params") or "")
    _add_text(lines, style, text[pos:])
    return lines, style


def _add_text(lines: list[list[Run]], style: Style, text: str) -> None:
    if not text:
        return
    parts = text.split("\n")
    lines[-1].append((style, parts[0]))
    for part in parts[1:]:
        lines.append([(style, part)])


class _Screen:
    """Rows of cells and a cursor: just enough of a terminal for progress output.

    A row is two parallel lists (characters and styles), so writing a run over earlier
    text is one slice assignment.
    """

    MAX_UP = 200  # how far back cursor-up may reach (multi-line progress bars)

    def __init__(self) -> None:
        self.chars: list[list[str]] = [[]]
        self.styles: list[list[Style]] = [[]]
        self.row = 0
        self.col = 0

    def write(self, text: str, style: Style) -> None:
        for k, part in enumerate(re.split(r"([\r\n\x08])", text)):
            if k % 2:
                if part == "\n":
                    self.move_to_row(self.row + 1)
                    self.col = 0
                elif part == "\r":
                    self.col = 0
                else:
                    self.col = max(0, self.col - 1)
            elif part:
                chars, styles = self.chars[self.row], self.styles[self.row]
                if self.col > len(chars):
                    pad = self.col - len(chars)
                    chars.extend(" " * pad)
                    styles.extend([PLAIN] * pad)
                end = self.col + len(part)
                chars[self.col : end] = part
                styles[self.col : end] = [style] * len(part)
                self.col = end

    def move_to_row(self, row: int) -> None:
        row = max(row, 0, len(self.chars) - 1 - self.MAX_UP)
        while len(self.chars) <= row:
            self.chars.append([])
            self.styles.append([])
        self.row = row

    def control(self, final: str, params: str) -> None:
        n = max(1, _int(params.split(";")[0]) if params else 1)
        if final == "A":
            self.move_to_row(self.row - n)
        elif final in ("B", "E"):
            self.move_to_row(self.row + n)
        elif final == "F":
            self.move_to_row(self.row - n)
        elif final == "C":
            self.col += n
        elif final == "D":
            self.col = max(0, self.col - n)
        elif final == "G":
            self.col = n - 1
        elif final == "K":
            mode = _int(params) if params else 0
            chars, styles = self.chars[self.row], self.styles[self.row]
            if mode == 0:
                del chars[self.col :], styles[self.col :]
            elif mode == 1:
                end = min(self.col + 1, len(chars))
                chars[:end] = " " * end
                styles[:end] = [PLAIN] * end
            else:
                chars.clear()
                styles.clear()
        if final in ("E", "F"):
            self.col = 0

    def lines(self) -> list[list[Run]]:
        out = []
        for chars, styles in zip(self.chars, self.styles, strict=True):
            runs: list[Run] = []
            k = 0
            for style, group in groupby(styles):
                size = sum(1 for _ in group)
                runs.append((style, "".join(chars[k : k + size])))
                k += size
            out.append(runs)
        return out


def _screen_lines(text: str) -> list[list[Run]]:
    screen = _Screen()
    style = PLAIN
    pos = 0
    for match in _ESCAPE.finditer(text):
        screen.write(text[pos : match.start()], style)
        pos = match.end()
        final, params = match.group("final"), match.group("params") or ""
        if final is None or params.startswith(("?", ">", "<", "=")):
            continue
        if final == "m":
            style = apply_sgr(style, params)
        else:
            screen.control(final, params)
    screen.write(text[pos:], style)
    return screen.lines()


def _drop_final_newline(lines: list[list[Run]]) -> list[list[Run]]:
    if len(lines) > 1 and not any(text for _, text in lines[-1]):
        return lines[:-1]
    return lines


_ANY_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_lines(text: str, max_line_chars: int | None = None) -> list[str]:
    """`text` as the lines a terminal would show, each as HTML (escaped, with colour spans).

    A line longer than `max_line_chars` is cut and ends with LINE_CUT.
    """
    text = text.replace("\r\n", "\n")
    if not _ANY_CONTROL.search(text):
        return [
            _html([(PLAIN, line)], max_line_chars) for line in _drop_plain_final(text.split("\n"))
        ]
    if _NEEDS_SCREEN.search(text):
        lines = _screen_lines(text)
    else:
        lines, _ = _fast_lines(text, PLAIN)
    return [_html(runs, max_line_chars) for runs in _drop_final_newline(lines)]


def plain_lines(text: str) -> list[str]:
    """`text` as a terminal would show it, without colours: for reading, not for display."""
    text = text.replace("\r\n", "\n")
    if _NEEDS_SCREEN.search(text):
        lines = _screen_lines(text)
    else:
        return _drop_plain_final(_ESCAPE.sub("", text).split("\n"))
    return ["".join(t for _, t in runs) for runs in _drop_final_newline(lines)]


def _drop_plain_final(lines: list[str]) -> list[str]:
    return lines[:-1] if len(lines) > 1 and lines[-1] == "" else lines


@dataclass(frozen=True)
class TerminalPreview:
    head: SafeString  # the first lines, as HTML joined by newlines
    tail: SafeString  # the last lines (empty when everything fits in the head)
    hidden_lines: int
    total_lines: int
    truncated: bool  # something is not shown: lines, the cut middle, or the end of a line


def _joined(lines: list[str]) -> SafeString:
    return mark_safe("\n".join(lines))  # noqa: S308 - every line escaped by _html


def terminal_preview(text: str, head: int = HEAD_LINES, tail: int = TAIL_LINES) -> TerminalPreview:
    """A long output's head and tail, as a terminal showed them, with the cut between."""
    if isinstance(text, CutText):
        head_lines = terminal_lines(visible_controls(text), MAX_LINE_CHARS)[:head]
        tail_lines = terminal_lines(visible_controls(text.tail), MAX_LINE_CHARS)[-tail:]
        tail_lines = tail_lines if text.tail and tail else []
        total = text.total_lines
    else:
        lines = terminal_lines(visible_controls(text), MAX_LINE_CHARS)
        total = len(lines)
        if total > head + tail:
            head_lines, tail_lines = lines[:head], (lines[-tail:] if tail else [])
        else:
            head_lines, tail_lines = lines, []
    hidden = max(0, total - len(head_lines) - len(tail_lines))
    cut_line = any(line.endswith(LINE_CUT) for line in (*head_lines, *tail_lines))
    return TerminalPreview(
        head=_joined(head_lines),
        tail=_joined(tail_lines),
        hidden_lines=hidden,
        total_lines=total,
        truncated=bool(hidden) or cut_line or isinstance(text, CutText),
    )


def terminal_html(text: str) -> SafeString:
    """All of an output as a terminal showed it (the "show all" view)."""
    return _joined(terminal_lines(visible_controls(text)))


def output_failures(text: str) -> list[str]:
    """The failing tests an output names, read from its head and (when cut) its tail."""
    lines = plain_lines(text)
    if isinstance(text, CutText) and text.tail:
        lines += plain_lines(text.tail)
    return failed_tests(lines)
