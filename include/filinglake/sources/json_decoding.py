"""JSON from a source, decoded or refused with one clear line: never a traceback on source data.

``json.loads`` raises ``RecursionError`` on deeply nested input (``[[[[…`` a few thousand deep) and
``UnicodeDecodeError`` / ``JSONDecodeError`` on the rest; every source module decodes through
:func:`load_json`, so each of these is a :class:`~filinglake.errors.BadResponse` naming the response.
"""

from __future__ import annotations

import json
from typing import Any

from filinglake.errors import BadResponse


def load_json(data: bytes | str, what: str) -> Any:
    """``data`` (UTF-8 bytes, an optional BOM, or text) as JSON; :class:`BadResponse` when it is not."""
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
        return json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadResponse(f"{what}: not JSON ({exc})") from None
    except RecursionError:
        raise BadResponse(f"{what}: JSON nested too deeply to be a real response") from None
