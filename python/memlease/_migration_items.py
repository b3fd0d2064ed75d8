"""How a migration marks and reads items in the destination, in the meta protocol's words
(protocol.md): tombstones (reserved client flags), which raw reads a plain read may return, and
the flags of its conditional writes (see :mod:`memlease.migration`)."""

from __future__ import annotations

from typing import Any

from memlease._core import MetaResult

# Client flags marking a tombstone. High bits no serializer of memlease, pymemcache, pylibmc or
# python-memcached uses.
TOMBSTONE_FLAGS = 0x4D4C0000  # "ML" << 16


def is_tombstone(result: Any) -> bool:
    return result is not None and result.client_flags == TOMBSTONE_FLAGS


def is_value(result: MetaResult | None) -> bool:
    """Whether a raw read found a value a plain read may return: not a miss, a tombstone, an
    item marked stale by an invalidation, or another reader's lease placeholder (an empty,
    flagless item with a win handed out on it)."""
    if result is None or result.status != "VA" or is_tombstone(result) or result.stale:
        return False
    placeholder = (result.win or result.already_won) and not result.client_flags
    return not (placeholder and result.value in (b"", ""))


def must_hand_on(result: MetaResult | None) -> bool:
    """memcached handed this read the refresh of a stale item; a plain read will not refresh,
    so it marks the item stale again (``md k I``), which hands the win to the next reader."""
    return result is not None and result.stale and result.win


# The meta protocol's words this module writes and checks (protocol.md): the reply code of a
# store or a value-less read that succeeded, and the flag asking a read for the item's CAS.
DONE = "HD"
WANT_CAS = "c"


def set_flags(
    *, ttl: int, cas: int | None = None, add: bool = False, client_flags: int | None = None
) -> str:
    """The flags of an ``ms``: ``T<ttl>``; ``C<cas>``, store only over that CAS; ``ME``, the
    ``add`` mode (only if absent); ``F<client_flags>``, the item's client flags."""
    words = [f"T{ttl}"]
    if cas:
        words.append(f"C{cas}")
    if add:
        words.append("ME")
    if client_flags is not None:
        words.append(f"F{client_flags}")
    return " ".join(words)


def conditional_write_flags(ttl: int, before: int | None) -> str | None:
    """The destination write of a ``set``: only over the item whose CAS was read before the
    origin write (``add`` if it was absent), so a slower concurrent writer loses. None when
    that CAS could not be read: then only a tombstone is safe."""
    if before is None:
        return None
    return set_flags(ttl=ttl, cas=before, add=not before)


def cas_read(found: MetaResult) -> int:
    """The CAS a ``mg k c`` read found (0: the item is absent)."""
    return found.cas or 0 if found.status == DONE else 0
