"""Text that is safe to show: user values reach denial messages, warnings and terminals only through here.

A pod author controls annotation values, so a message that quotes them could carry ESC sequences (terminal
injection in `kubectl` output), BEL, DEL, bidi overrides or U+2028 (a line break to JSON-in-JS readers), or a lone
surrogate (unencodable as UTF-8). Every character Python does not consider printable is shown as its escape.
"""

from __future__ import annotations

ELLIPSIS = "…"
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """``text`` with every non-printable character (controls, format characters, line/paragraph separators,
    surrogates, unassigned code points, spaces other than U+0020) replaced by a backslash escape."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def clipped(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in an ellipsis when it was cut."""
    return text if len(text) <= limit else text[:max(limit - 1, 0)] + ELLIPSIS


def _escape(char: str) -> str:
    short = _SHORT_ESCAPES.get(char)
    if short is not None:
        return short
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
