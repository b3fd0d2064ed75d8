"""The request layer: a ``contextvars`` scope in which each id is read past it at most once.

``manager.request_scope()`` opens a scope (``with`` or ``async with``) around one unit of work,
typically a web request: values read through any of the manager's caches are remembered in
a dict private to that scope, and dropped when it closes. Tasks started inside the scope
copy the context and so share it; the scope never outlives its ``with`` block.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Any


class RequestScope:
    """Returned by ``manager.request_scope()``; enter it once."""

    __slots__ = ("_token", "_var")

    def __init__(self, var: ContextVar[dict[str, Any] | None]) -> None:
        self._var = var
        self._token: Token[dict[str, Any] | None] | None = None

    def __enter__(self) -> RequestScope:
        self._token = self._var.set({})
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._token is not None:
            self._var.reset(self._token)
            self._token = None

    async def __aenter__(self) -> RequestScope:
        return self.__enter__()

    async def __aexit__(self, *exc_info: object) -> None:
        self.__exit__()
