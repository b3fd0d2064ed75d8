"""Named-cache keys: ``urn:<app>:<cache>:<id>``, readable in ``memcached-tool`` output.

An id is a str, an int, or a tuple of them (parts joined by ``:``). Each part is
percent-encoded except for unreserved URN characters, so a separator inside a part (``"a:b"``)
can never look like two parts (``("a", "b")``). An int and its decimal text are one id
(``42`` and ``"42"`` name one entry: the key is text either way), and a 1-tuple is its element.
A cache at ``version > 1`` writes ``urn:<app>:<cache>@v<version>:<id>``, so bumping the
version orphans the old entries (they expire by their TTL). Keys over memcached's 250 bytes
are replaced on the wire by ``memlease-digest:`` + a BLAKE2b-256 digest of the key
(``src/protocol/keys.rs``), so long ids work but lose their readability there.
"""

from __future__ import annotations

import functools
import re
from typing import Any
from urllib.parse import quote

from memlease._errors import InvalidArgument

# App and cache names: short identifiers, free of the key's separators (":", "@", "#").
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# Kept as is in id parts (RFC 8141's unreserved set minus the separators); the rest is %XX.
_SAFE = "-._~!$&'()*+,;="

Id = str | int | tuple[str | int, ...]


def check_name(what: str, name: Any) -> str:
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise InvalidArgument(
            f"{what} must be 1-64 letters, digits, '_', '.' or '-' (starting with a letter or"
            f" digit), got {name!r}"
        )
    return name


def prefix(app: str, name: str, version: int) -> str:
    marker = f"@v{version}" if version > 1 else ""
    return f"urn:{app}:{name}{marker}:"


def id_text(id: Any) -> str:
    """The id's part of the key (``InvalidArgument`` for anything but str, int or a non-empty
    tuple of them)."""
    kind = type(id)
    if kind is int:  # the common ids first: an int, an alphanumeric str (no escaping needed)
        return str(id)
    if kind is str and id.isascii() and id.isalnum():
        return str(id)  # the same object: str() of a str is itself
    if isinstance(id, tuple):
        if not id:
            raise InvalidArgument("an id tuple must not be empty")
        return ":".join(_part(part) for part in id)
    return _part(id)


def _part(part: Any) -> str:
    if isinstance(part, str):
        if not part:
            raise InvalidArgument("an id (or id part) must not be an empty string")
        return quote(part, safe=_SAFE)
    if isinstance(part, int) and not isinstance(part, bool):
        return str(part)
    raise InvalidArgument(f"an id must be a str, an int or a tuple of them, got {part!r}")


@functools.lru_cache(maxsize=4096)  # on every tagged read: the escaping is the cost
def tag_key(app: str, tag: Any) -> str:
    """Where a tag's version lives: ``urn:<app>#tag:<tag>`` (no cache name has a ``#``)."""
    if not isinstance(tag, str) or not tag:
        raise InvalidArgument(f"a tag must be a non-empty str, got {tag!r}")
    return f"urn:{app}#tag:{quote(tag, safe=_SAFE)}"
