"""JSON from a request, bounded in size and depth."""

from __future__ import annotations

import json

from web.errors import JsonTooDeepError, JsonTooLargeError
from workflows.errors import ApiRequestInvalidError

MAX_BYTES = 4 * 1024 * 1024  # Tens of thousands of signers: far above any real collection.
MAX_DEPTH = 8  # A list of objects of lists is 3 deep; no API input needs more.


def loads(raw: str, field: str, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH):
    """The parsed value of `raw`; raises JsonTooLargeError, JsonTooDeepError, or
    ApiRequestInvalidError when it is not JSON."""
    if len(raw) > max_bytes or len(raw.encode("utf-8", "surrogatepass")) > max_bytes:
        raise JsonTooLargeError(f"{field}: at most {max_bytes} bytes of JSON", field=field,
                                limit=max_bytes)
    too_deep = JsonTooDeepError(f"{field}: JSON nested more than {max_depth} deep",
                                field=field, limit=max_depth)
    try:
        value = json.loads(raw)
    except RecursionError:
        # The C parser gives up cleanly at the interpreter's recursion limit (about 1,000
        # levels), long before a 2 MB bracket tower is read.
        raise too_deep from None
    except ValueError:
        raise ApiRequestInvalidError(f"{field}: not JSON", field=field) from None
    if _depth_over(value, max_depth):
        raise too_deep
    return value


def _depth_over(value, limit: int) -> bool:
    """True when containers nest more than `limit` deep; iterative, stops at the first."""
    level = [value]
    for _ in range(limit):
        level = [child for item in level if isinstance(item, (list, dict))
                 for child in (item.values() if isinstance(item, dict) else item)]
        if not level:
            return False
    return any(isinstance(item, (list, dict)) for item in level)
