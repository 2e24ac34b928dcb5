"""JSON from a request, bounded in size and depth before the parser sees it."""

from __future__ import annotations

import json
import re

from workflows.errors import ApiRequestInvalidError, JsonTooDeepError, JsonTooLargeError

MAX_BYTES = 4 * 1024 * 1024  # Tens of thousands of signers: far above any real collection.
MAX_DEPTH = 8  # A list of objects of lists is 3 deep; no API input needs more.
# Strings first (brackets inside a name do not nest), then the brackets alone: a deeply
# nested body is refused at its ninth bracket, before json.loads recurses into it.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_BRACKET = re.compile(r"[\[\]{}]")


def loads(raw: str, field: str, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH):
    """The parsed value of `raw`; raises JsonTooLargeError, JsonTooDeepError, or
    ApiRequestInvalidError when it is not JSON."""
    if len(raw) > max_bytes or len(raw.encode("utf-8", "surrogatepass")) > max_bytes:
        raise JsonTooLargeError(f"{field}: at most {max_bytes} bytes of JSON", field=field,
                                limit=max_bytes)
    depth = 0
    for bracket in _BRACKET.finditer(_STRING.sub('""', raw)):
        if bracket.group() in "[{":
            depth += 1
            if depth > max_depth:
                raise JsonTooDeepError(f"{field}: JSON nested more than {max_depth} deep",
                                       field=field, limit=max_depth)
        else:
            depth -= 1
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise ApiRequestInvalidError(f"{field}: not JSON", field=field) from None
