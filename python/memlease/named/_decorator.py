"""``@manager.cached(name, ...)``: a function's results read through a named cache."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from memlease._errors import InvalidArgument
from memlease.named._cache import check_tags

if TYPE_CHECKING:
    from memlease.named._manager import CacheManager

F = TypeVar("F", bound=Callable[..., Any])
Tags = Iterable[str] | Callable[[tuple[Any, ...], Any], Iterable[str]]


def cached(
    manager: CacheManager,
    name: str,
    key: Callable[..., Any] | None,
    tags: Tags,
    ttl: int | None,
) -> Callable[[F], F]:
    """See :meth:`CacheManager.cached`."""
    cache = manager._caches.get(name)
    if cache is None:
        if ttl is None:
            raise InvalidArgument(
                f"cached({name!r}): declare the cache with manager.cache() first, or pass ttl"
            )
        cache = manager.cache(name, ttl=ttl)
    static: tuple[str, ...] = () if callable(tags) else check_tags(tags)
    tags_of = tags if callable(tags) else None
    id_of = key or _positional_id

    def decorate(function: F) -> F:
        is_async = inspect.iscoroutinefunction(function)
        if is_async != manager.is_async:
            raise InvalidArgument(
                f"cached({name!r}) on {'an async' if is_async else 'a sync'} function needs"
                f" {'an AsyncClient' if is_async else 'a Client'} manager"
            )

        def result_tags(args: tuple[Any, ...]) -> Any:
            if tags_of is None:
                return None
            return lambda result: check_tags(tags_of(args, result))

        if is_async:

            @functools.wraps(function)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                return await cache.aget(
                    id_of(*args, **kwargs),
                    lambda: function(*args, **kwargs),
                    tags=static,
                    ttl=ttl,
                    _result_tags=result_tags(args),
                )

            async def ainvalidate(*args: Any, **kwargs: Any) -> bool:
                return await cache.ainvalidate(id_of(*args, **kwargs))

            async_wrapper.invalidate = ainvalidate  # type: ignore[attr-defined]
            async_wrapper.cache = cache  # type: ignore[attr-defined]
            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return cache.get(
                id_of(*args, **kwargs),
                lambda: function(*args, **kwargs),
                tags=static,
                ttl=ttl,
                _result_tags=result_tags(args),
            )

        wrapper.invalidate = lambda *args, **kwargs: cache.invalidate(id_of(*args, **kwargs))  # type: ignore[attr-defined]
        wrapper.cache = cache  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def _positional_id(*args: Any, **kwargs: Any) -> Any:
    if kwargs:
        raise InvalidArgument(
            "a cached function called with keyword arguments needs key=: the default id is"
            " the positional arguments"
        )
    if not args:
        raise InvalidArgument("a cached function without arguments needs key=")
    return args[0] if len(args) == 1 else args
