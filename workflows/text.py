"""Text from outside (mail, chat, web, API): one rule to clean it at intake or refuse it.

Two uses, one definition of what is unsafe:

- ``clean_line`` / ``clean_text`` *repair* text that arrives where nobody can be asked again
  (a mail header already accepted with 250, a filename): unsafe characters are dropped,
  the length is bounded.
- ``check_line`` / ``check_text`` *refuse* text a person typed and can correct (a signer
  name in a form or JSON body, a decline reason): ``TextInvalidError`` names the field.

Unsafe: C0/C1 control characters (TAB kept in bodies, LF kept in multi-line text),
surrogates (they cannot be encoded to UTF-8, nor stored in PostgreSQL), U+FFFD (the mark of a
decoding that already lost the text), noncharacters, and the bidirectional overrides that
make a name read differently from what it is.
"""

from __future__ import annotations

import re
import unicodedata

from workflows.errors import TextInvalidError

NAME_LIMIT = 200
LINE_LIMIT = 998  # RFC 5322's line length: also a sane bound for subjects and filenames.
TEXT_LIMIT = 20_000

_BIDI_OVERRIDES = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
# Control characters but TAB and LF, which the multi-line rule keeps; CR is folded first.
_UNSAFE_IN_TEXT = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffd\ufdd0-\ufdef\ufffe\uffff"
    + _BIDI_OVERRIDES + "]"
)
_LINE_BREAKS = re.compile("[\t\n\r\x0b\x0c\x85\u2028\u2029]+")
_SPACES = re.compile(r"\s+")


def decode_bytes(raw: bytes) -> str:
    """Bytes of an undeclared charset: UTF-8 when they are, Windows-1252 otherwise.

    Mail clients and tools such as swaks send 8-bit text without a charset; it is UTF-8 or
    Windows-1252 in practice. The five bytes Windows-1252 leaves undefined are read as
    Latin-1 so that decoding never fails (they are control characters, dropped by cleaning).
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:
        return "".join(_CP1252[b] for b in raw)


def _cp1252_char(byte: int) -> str:
    try:
        return bytes([byte]).decode("cp1252")
    except UnicodeDecodeError:
        return chr(byte)


_CP1252 = [_cp1252_char(b) for b in range(256)]


def clean_line(value: str | None, limit: int = LINE_LIMIT) -> str:
    """One line of text, safe to store and to place in a header: unsafe characters dropped,
    line breaks and runs of spaces folded to one space, NFC, at most ``limit`` characters."""
    if not value:
        return ""
    text = _LINE_BREAKS.sub(" ", str(value))
    text = _UNSAFE_IN_TEXT.sub("", text)
    text = unicodedata.normalize("NFC", _SPACES.sub(" ", text)).strip()
    return text[:limit].rstrip()


def clean_text(value: str | None, limit: int = TEXT_LIMIT) -> str:
    """Multi-line text (a mail body): CRLF and CR become LF, TAB and LF kept, other unsafe
    characters dropped, NFC, at most ``limit`` characters."""
    if not value:
        return ""
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    text = _UNSAFE_IN_TEXT.sub("", text)
    return unicodedata.normalize("NFC", text)[:limit]


def check_line(value: object, field: str, limit: int = NAME_LIMIT, *,
               required: bool = True) -> str:
    """The same rule as ``clean_line``, refusing instead of repairing.

    Returns the value stripped and in NFC. Raises ``TextInvalidError`` (details ``field`` and
    ``reason``: ``not_text``, ``required``, ``unsafe_character``, ``line_break``,
    ``too_long``) for what a person must correct.
    """
    text = _checked(value, field, limit, required=required)
    if _LINE_BREAKS.search(text.replace("\t", " ")):
        raise TextInvalidError(f"{field}: a line break is not allowed here",
                               field=field, reason="line_break")
    return _SPACES.sub(" ", text)


def check_text(value: object, field: str, limit: int = TEXT_LIMIT, *,
               required: bool = False) -> str:
    """Multi-line text a person typed (a message, a reason): refused when unsafe or too long."""
    if isinstance(value, str):
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return _checked(value, field, limit, required=required)


def _checked(value: object, field: str, limit: int, *, required: bool) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise TextInvalidError(f"{field}: text expected", field=field, reason="not_text")
    bad = _UNSAFE_IN_TEXT.search(value)
    if bad:
        raise TextInvalidError(
            f"{field}: the character U+{ord(bad.group()):04X} is not allowed",
            field=field, reason="unsafe_character", position=bad.start())
    text = unicodedata.normalize("NFC", value).strip()
    if required and not text:
        raise TextInvalidError(f"{field}: required", field=field, reason="required")
    if len(text) > limit:
        raise TextInvalidError(f"{field}: at most {limit} characters", field=field,
                               reason="too_long", limit=limit)
    return text


def is_clean_line(value: str) -> bool:
    """True when ``clean_line`` would leave ``value`` as it is (a property the tests use)."""
    return clean_line(value, len(value) or 1) == value
