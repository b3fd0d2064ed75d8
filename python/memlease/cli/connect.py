"""The fleet the tool talks to: ``--servers`` / ``MEMLEASE_SERVERS``, preset, timeout, serde."""

from __future__ import annotations

from dataclasses import dataclass

import click

from memlease import AsyncClient, Client

SERVERS_ENV = "MEMLEASE_SERVERS"
_HINT = f"--servers / {SERVERS_ENV}"

# The placement presets `Client(hashing=...)` accepts (src/route/ring, `Hashing::ALL`);
# tests/cli/test_ring.py checks that each one builds a client.
HASHING_PRESETS = (
    "ketama",
    "libmemcached_ketama",
    "modula",
    "pymemcache",
    "python_memcached",
    "uhashring",
    "jump",
)


@dataclass(frozen=True)
class ServerSpec:
    """One ``"host:port [weight]"`` entry of ``--servers``."""

    address: str
    weight: int

    @property
    def spec(self) -> str:
        return self.address if self.weight == 1 else f"{self.address} {self.weight}"


def parse_servers(text: str | None) -> list[ServerSpec]:
    """Comma-separated ``"host:port [weight]"`` specs; none or a malformed one is a usage
    error."""
    if not text:
        raise click.UsageError(f"no servers: give --servers or set {SERVERS_ENV}")
    specs = []
    for entry in text.split(","):
        words = entry.split()
        if not words:
            continue
        if len(words) > 2:
            raise click.BadParameter(
                f"{entry.strip()!r}: expected 'host:port [weight]'", param_hint=_HINT
            )
        weight = 1
        if len(words) == 2:
            if not words[1].isdigit() or int(words[1]) < 1:
                raise click.BadParameter(
                    f"{entry.strip()!r}: the weight must be an integer >= 1", param_hint=_HINT
                )
            weight = int(words[1])
        specs.append(ServerSpec(words[0], weight))
    if not specs:
        raise click.BadParameter("no server given", param_hint=_HINT)
    return specs


@dataclass(frozen=True)
class Fleet:
    """What the global options say; each command opens the client it needs. The servers are
    parsed when a command needs them, so ``memlease CMD --help`` works without any."""

    servers_text: str | None
    hashing: str
    timeout: float
    as_json: bool

    @property
    def servers(self) -> list[ServerSpec]:
        return parse_servers(self.servers_text)

    def _options(self, serde: str | None) -> dict[str, object]:
        # The connect deadline follows --timeout too: an unreachable host should fail within
        # the one deadline the user gave, not the library's 0.25 s nor a longer one.
        return {
            "hashing": self.hashing,
            "timeout": self.timeout,
            "connect_timeout": self.timeout,
            "pool_timeout": self.timeout,
            "serde": serde,
        }

    def client(self, serde: str | None = "raw") -> Client:
        return Client([s.spec for s in self.servers], **self._options(serde))  # type: ignore[arg-type]

    def async_client(self, serde: str | None = "raw") -> AsyncClient:
        return AsyncClient([s.spec for s in self.servers], **self._options(serde))  # type: ignore[arg-type]
