"""How a named cache stores an entry in memcached: its value, the versions of its tags, when
it was stored, optionally compressed, behind client flags other clients refuse.

The flags carry ``FLAG_INTEGER`` (2) plus a marker bit, and the payload starts with
``b"\\xffML"``: pymemcache (and memlease's own plain ``get``) read a flag-2 value as a decimal
number, and these bytes are not one, so they raise (``ValueError``, ``SerializationError``)
instead of handing out bytes they would misread. A value pymemcache or the plain client wrote
under a named cache's key lacks the marker, and is a miss here.
"""

from __future__ import annotations

import pickle
from typing import Any, NamedTuple

from memlease import _core
from memlease._errors import InvalidArgument, SerializationError

FLAG_INTEGER = 1 << 1
ENTRY_FLAGS = FLAG_INTEGER | (1 << 24)
MAGIC = b"\xffML"
CODECS = {None: 0, "zlib": 1, "zstd": 2}
_CODEC_NAMES = {number: name for name, number in CODECS.items()}
# Values shorter than this are not compressed: the codec's header would outweigh the saving.
COMPRESS_ABOVE = 256
# Entries up to this size are decoded from a copy of their body, larger ones from a view.
COPY_AT_MOST = 4096


def check_codec(compression: Any) -> str | None:
    if compression not in CODECS:
        raise InvalidArgument(f'compression must be None, "zlib" or "zstd", got {compression!r}')
    return compression  # type: ignore[no-any-return]


class Entry(NamedTuple):
    """A decoded entry: the value, its tags with the versions they had when it was computed,
    and when it was stored (Unix time, for the shadow checks' staleness)."""

    value: Any
    tags: tuple[str, ...]
    versions: tuple[int, ...]
    stored_at: float


def encode(entry: Entry, codec: str | None) -> bytes:
    try:
        body = pickle.dumps(tuple(entry), pickle.HIGHEST_PROTOCOL)
    except Exception as error:
        raise SerializationError(f"a named cache's value cannot be pickled: {error}") from error
    used = codec if codec is not None and len(body) > COMPRESS_ABOVE else None
    if used is not None:
        body = _core._compress(body, used)
    return MAGIC + bytes([CODECS[used]]) + body


def decode(data: bytes, flags: int) -> Entry | None:
    """The entry, or None if these bytes are not a named-cache entry (another client's value
    under this key). Corrupt entries raise ``SerializationError``."""
    if flags != ENTRY_FLAGS or data[:3] != MAGIC or len(data) < 4:
        return None
    codec_number = data[3]
    body: bytes | memoryview
    if codec_number:
        codec = _CODEC_NAMES.get(codec_number)
        if codec is None:
            raise SerializationError(
                f"named-cache entry with an unknown codec number {codec_number}"
            )
        body = _core._decompress(memoryview(data)[4:].tobytes(), codec)
    elif len(data) <= COPY_AT_MOST:
        body = data[4:]  # a small copy costs less than a view of the value's bytes
    else:
        body = memoryview(data)[4:]  # no copy of a large value's bytes
    try:
        fields = pickle.loads(body)
    except Exception as error:
        raise SerializationError(f"named-cache entry cannot be unpickled: {error}") from error
    if type(fields) is not tuple or len(fields) != 4:
        raise SerializationError("named-cache entry cannot be unpickled: not an entry's fields")
    return tuple.__new__(Entry, fields)
