"""A migration's phases (:class:`Phase`), when they apply (:class:`Schedule`), and the settings
that decide each operation (:class:`Migration`); see :mod:`memlease.migration`."""

from __future__ import annotations

import enum
import random
import time
from collections.abc import Callable, Iterable

from memlease._errors import InvalidArgument
from memlease._migration_items import TOMBSTONE_FLAGS, set_flags

DEFAULT_BACKFILL_RATIO = 0.1
DEFAULT_TOMBSTONE_TTL = 10


class Phase(str, enum.Enum):
    ORIGIN_ONLY = "origin_only"
    DUAL_WRITE = "dual_write"
    BACKFILL = "backfill"
    READ_DESTINATION = "read_destination"
    DESTINATION_ONLY = "destination_only"

    @property
    def writes_origin(self) -> bool:
        return self is not Phase.DESTINATION_ONLY

    @property
    def writes_destination(self) -> bool:
        return self is not Phase.ORIGIN_ONLY

    @property
    def dual(self) -> bool:
        return self.writes_origin and self.writes_destination

    @property
    def reads_destination(self) -> bool:
        return self in (Phase.READ_DESTINATION, Phase.DESTINATION_ONLY)


class Schedule:
    """Phases by wall-clock time: ``Schedule([(t0, "dual_write"), (t1, "backfill"), ...])``.

    Before the first start the migration is ``origin_only``; afterwards the phase whose start
    is the latest one not in the future applies. Starts are Unix timestamps.
    """

    def __init__(
        self, steps: Iterable[tuple[float, Phase | str]], clock: Callable[[], float] = time.time
    ) -> None:
        self._steps = sorted((float(start), Phase(phase)) for start, phase in steps)
        self._clock = clock

    def phase(self) -> Phase:
        now = self._clock()
        current = Phase.ORIGIN_ONLY
        for start, phase in self._steps:
            if start > now:
                break
            current = phase
        return current


class Migration:
    """What the sync and async migrating clients share: the phase and the decisions."""

    def __init__(
        self,
        phase: Phase | str | None,
        schedule: Schedule | None,
        backfill_ratio: float,
        tombstone_ttl: int,
    ) -> None:
        if (phase is None) == (schedule is None):
            raise InvalidArgument("give exactly one of phase= and schedule=")
        if not 0.0 <= backfill_ratio <= 1.0:
            raise InvalidArgument("backfill_ratio must be in [0, 1]")
        if tombstone_ttl <= 0:
            raise InvalidArgument("tombstone_ttl must be a positive number of seconds")
        self._fixed = Phase(phase) if phase is not None else None
        self._schedule = schedule
        self.backfill_ratio = backfill_ratio
        self.tombstone_ttl = tombstone_ttl
        self.tombstone_flags = set_flags(ttl=tombstone_ttl, client_flags=TOMBSTONE_FLAGS)

    @property
    def phase(self) -> Phase:
        if self._fixed is not None:
            return self._fixed
        assert self._schedule is not None
        return self._schedule.phase()

    def should_backfill(self, phase: Phase) -> bool:
        if phase is Phase.READ_DESTINATION:
            return True
        return phase is Phase.BACKFILL and random.random() < self.backfill_ratio
