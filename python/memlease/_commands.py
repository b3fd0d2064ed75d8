"""Steps for the plain key-value and meta commands (see ``_steps``), and :class:`At`, which
sends a step to a client of its own: a migration talks to two clusters in one operation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from memlease._steps import AnyClient, ClientCall


@dataclass(slots=True)
class At(ClientCall):
    """Perform `step` on `client` instead of the driver's client."""

    client: AnyClient
    step: ClientCall

    def perform(self, client: AnyClient) -> Any:
        return self.step.perform(self.client)


@dataclass(slots=True)
class MetaGet(ClientCall):
    key: Any
    flags: str

    def perform(self, client: AnyClient) -> Any:
        return client.meta_get(self.key, self.flags)


@dataclass(slots=True)
class MetaSet(ClientCall):
    key: Any
    value: Any
    flags: str

    def perform(self, client: AnyClient) -> Any:
        return client.meta_set(self.key, self.value, self.flags)


@dataclass(slots=True)
class MetaDelete(ClientCall):
    key: Any
    flags: str

    def perform(self, client: AnyClient) -> Any:
        return client.meta_delete(self.key, self.flags)


@dataclass(slots=True)
class Get(ClientCall):
    key: Any

    def perform(self, client: AnyClient) -> Any:
        return client.get(self.key)


@dataclass(slots=True)
class Set(ClientCall):
    key: Any
    value: Any
    ttl: int = 0

    def perform(self, client: AnyClient) -> Any:
        return client.set(self.key, self.value, self.ttl)


@dataclass(slots=True)
class Add(ClientCall):
    key: Any
    value: Any
    ttl: int = 0

    def perform(self, client: AnyClient) -> Any:
        return client.add(self.key, self.value, self.ttl)


@dataclass(slots=True)
class Replace(ClientCall):
    key: Any
    value: Any
    ttl: int = 0

    def perform(self, client: AnyClient) -> Any:
        return client.replace(self.key, self.value, self.ttl)


@dataclass(slots=True)
class Delete(ClientCall):
    key: Any

    def perform(self, client: AnyClient) -> Any:
        return client.delete(self.key)


@dataclass(slots=True)
class Incr(ClientCall):
    key: Any
    delta: int = 1
    initial: int | None = None
    ttl: int = 0

    def perform(self, client: AnyClient) -> Any:
        return client.incr(self.key, self.delta, initial=self.initial, ttl=self.ttl)


@dataclass(slots=True)
class Decr(ClientCall):
    key: Any
    delta: int = 1
    initial: int | None = None
    ttl: int = 0

    def perform(self, client: AnyClient) -> Any:
        return client.decr(self.key, self.delta, initial=self.initial, ttl=self.ttl)
