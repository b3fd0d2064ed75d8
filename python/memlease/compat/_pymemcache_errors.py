"""The exception names of pymemcache 4, rooted in memlease's tree, and the one place memlease
errors are translated into them (see :mod:`memlease.compat.pymemcache`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import memlease


class MemcacheError(memlease.MemcacheError):
    """Root of the pymemcache-named exceptions (also a ``memlease.MemcacheError``)."""


class MemcacheClientError(MemcacheError, memlease.ClientError):
    """The request is wrong: a bad key or value, or the server answered ``CLIENT_ERROR``."""


class MemcacheUnknownCommandError(MemcacheClientError, memlease.ServerRejected):
    """The server did not know the command (it answered ``ERROR``)."""


class MemcacheIllegalInputError(MemcacheClientError, memlease.InvalidArgument):
    """A key, value, TTL, CAS token or number this client cannot send."""


class MemcacheServerError(MemcacheError, memlease.ServerError):
    """The server reported a failure (``SERVER_ERROR``), e.g. a value over its item size."""


class MemcacheUnknownError(MemcacheError, memlease.UnexpectedReply):
    """The server's reply did not fit the request."""


class MemcacheUnexpectedCloseError(MemcacheServerError, memlease.MemcacheConnectionError):
    """The server could not be reached, the connection broke, or a timeout passed. Timeouts
    are also ``TimeoutError`` (pymemcache raises ``socket.timeout``), the other cases
    ``ConnectionError``, so handlers written for pymemcache's socket errors still match."""


def _pymemcache_base(error: memlease.MemcacheError) -> tuple[type[BaseException], ...]:
    """The pymemcache-named class (plus the builtin one, for network errors) that `error`
    becomes."""
    if isinstance(error, memlease.MemcacheTimeout):
        return (MemcacheUnexpectedCloseError, TimeoutError)
    if isinstance(error, memlease.MemcacheConnectionError):
        return (MemcacheUnexpectedCloseError, ConnectionError)
    if isinstance(error, memlease.ValueTooLarge):
        # memcached answers SERVER_ERROR for these; pymemcache passes that on.
        return (MemcacheServerError,)
    if isinstance(error, (memlease.InvalidKey, memlease.InvalidArgument)):
        return (MemcacheIllegalInputError,)
    if isinstance(error, memlease.UnexpectedReply):
        return (MemcacheUnknownError,)
    if isinstance(error, memlease.ServerError):
        # A classic command's error line comes back inside "<server> failed: SERVER_ERROR ...".
        if str(error).endswith("SERVER_ERROR ERROR"):
            return (MemcacheUnknownCommandError,)
        if "SERVER_ERROR CLIENT_ERROR" in str(error):
            return (MemcacheClientError,)
        return (MemcacheServerError,)
    if isinstance(error, memlease.ClientError):
        return (MemcacheClientError,)
    return (MemcacheError,)


_classes: dict[tuple[type[BaseException], ...], type[MemcacheError]] = {}


def _translation_class(error: memlease.MemcacheError) -> type[MemcacheError]:
    """A class named like pymemcache's that is also `error`'s own class, so ``except
    memlease.ReadTimeout`` and ``except MemcacheUnexpectedCloseError`` both catch it."""
    bases = _pymemcache_base(error)
    key = (*bases, type(error))
    cls = _classes.get(key)
    if cls is None:
        cls = type(bases[0].__name__, (bases[0], type(error), *bases[1:]), {})
        assert issubclass(cls, MemcacheError)
        cls.__module__ = "memlease.compat.pymemcache"
        cls.__qualname__ = bases[0].__qualname__
        _classes[key] = cls
    return cls


def translate(error: memlease.MemcacheError) -> MemcacheError:
    """`error` as its pymemcache-named counterpart, with the same message and attributes."""
    if isinstance(error, MemcacheError):
        return error
    cls = _translation_class(error)
    translated_error = cls.__new__(cls)
    translated_error.args = error.args
    translated_error.__dict__.update(error.__dict__)
    return translated_error


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Raise memlease errors leaving the block as their pymemcache-named counterparts."""
    try:
        yield
    except memlease.MemcacheError as error:
        replacement = translate(error)
        if replacement is error:
            raise
        # The serde's own exception, if that is what failed; else the memlease error.
        raise replacement from (error.__cause__ or error)
