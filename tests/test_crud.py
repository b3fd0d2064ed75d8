"""The CRUD helpers over a SQLite source of truth: their order of operations, and a randomized
concurrency test (threads and coroutines, reads and writes, with servers killed and frozen)
checking that no read returns a value the database did not hold during that read, and that
cache and database agree once the run settles."""

from __future__ import annotations

import asyncio
import math
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

import memlease
from memlease.testing import MemcachedServer
from tests.source_of_truth import User, Users


def repository(client: Any, users: Users, **options: Any) -> Any:
    kind = (
        memlease.AsyncRepository
        if isinstance(client, memlease.AsyncClient)
        else memlease.Repository
    )
    return kind(
        client,
        "user",
        load={"id": users.by_id, "email": users.by_email},
        lookups=lambda u: {"id": u["id"], "email": u["email"]},
        ttl=300,
        **options,
    )


@pytest.fixture
def users() -> Users:
    return Users(4)


@pytest.fixture
def sync_client(server: MemcachedServer) -> Iterator[memlease.Client]:
    with memlease.Client(server.address) as c:
        c.flush_all()
        yield c


def test_reads_go_through_the_cache(sync_client: memlease.Client, users: Users) -> None:
    repo = repository(sync_client, users)
    loads: list[Any] = []

    def by_id(user_id: int) -> User | None:
        loads.append(user_id)
        return users.by_id(user_id)

    repo.load["id"] = by_id
    assert repo.get(id=1) == users.by_id(1)
    assert repo.get(id=1) == users.by_id(1)
    assert loads == [1]
    email = users.by_id(2)["email"]  # type: ignore[index]
    assert repo.get(email=email)["id"] == 2
    assert sync_client.get(f"user:email:{email}") == users.by_id(2)
    with pytest.raises(memlease.InvalidArgument):
        repo.get(id=1, email=email)
    with pytest.raises(memlease.InvalidArgument):
        repo.get(phone="555")


def test_update_lowers_ttls_writes_then_invalidates_every_key(
    sync_client: memlease.Client, users: Users
) -> None:
    repo = repository(sync_client, users, pre_write_ttl=7)
    before = repo.get(id=1)
    old_email = before["email"]
    assert repo.get(email=old_email) == before
    seen_ttls: list[int | None] = []

    def write() -> User | None:
        # Inside the write, the cached keys already expire within pre_write_ttl.
        for key in repo.keys_of(before):
            seen_ttls.append(sync_client.meta_get(key, "t").ttl)
        return users.update(1, email=users.new_email(1), name="renamed")

    after = repo.update(before, write)
    assert all(ttl is not None and 0 < ttl <= 7 for ttl in seen_ttls) and len(seen_ttls) == 2
    assert sync_client.get(f"user:email:{old_email}") is None
    assert sync_client.get("user:id:1") is None
    assert repo.get(id=1) == after and after["name"] == "renamed"
    assert repo.get(email=old_email) is None
    assert repo.get(email=after["email"]) == after


def test_a_failed_write_still_invalidates(sync_client: memlease.Client, users: Users) -> None:
    repo = repository(sync_client, users)
    before = repo.get(id=0)

    def write() -> User:
        users.update(0, name="committed")
        raise TimeoutError("the commit's acknowledgement was lost")

    with pytest.raises(TimeoutError):
        repo.update(before, write)
    assert repo.get(id=0)["name"] == "committed"


def test_delete_and_create_do_not_leave_negative_or_old_entries(
    sync_client: memlease.Client, users: Users
) -> None:
    repo = repository(sync_client, users, none_ttl=60)
    user = repo.get(id=3)
    assert repo.delete(user, lambda: users.delete(3)) is True
    assert repo.get(id=3) is None
    assert sync_client.get("user:id:3", default="absent") is None  # None cached for none_ttl
    created = repo.create(lambda: users.insert(3, users.new_email(3), "back"))
    assert repo.get(id=3) == created


def test_stale_invalidation_serves_old_values_to_callers_that_accept_them(
    sync_client: memlease.Client, users: Users
) -> None:
    accept = memlease.StalePolicy(accept=True)
    strict = repository(sync_client, users, stale_ttl=30, lease=memlease.LeasePolicy(retries=0))
    tolerant = repository(sync_client, users, stale=accept)
    before = strict.get(id=2)
    after = strict.update(before, lambda: users.update(2, name="new"))
    # Someone takes the refresh; meanwhile tolerant readers get the old value at once...
    refresh = sync_client.get_or_lease("user:id:2", stale=accept)
    assert refresh.won and refresh.stale and refresh.value == before
    assert tolerant.get(id=2) == before
    # ...and strict ones never do: they read the database rather than wait here.
    assert strict.get(id=2) == after
    assert sync_client.read_through_stats()["stale_served"] >= 1


def test_repository_checks_its_client(users: Users) -> None:
    with pytest.raises(memlease.InvalidArgument):
        memlease.Repository(object(), "user", load={"id": users.by_id}, lookups=dict)  # type: ignore[arg-type]
    with pytest.raises(memlease.InvalidArgument):
        memlease.Repository(
            memlease.Client("127.0.0.1:1"), "a:b", load={"id": users.by_id}, lookups=dict
        )
    # The core client lacks the write-failure tracker the repository relies on.
    with pytest.raises(memlease.InvalidArgument):
        memlease.Repository(
            memlease._core.Client("127.0.0.1:1"),  # type: ignore[arg-type]
            "user",
            load={"id": users.by_id},
            lookups=dict,
        )


@pytest.mark.parametrize("beta", [float("nan"), float("inf"), -0.5])
def test_repository_checks_beta(sync_client: memlease.Client, users: Users, beta: float) -> None:
    with pytest.raises(memlease.InvalidArgument, match="beta"):
        repository(sync_client, users, beta=beta)


@pytest.mark.parametrize("raised", [GeneratorExit, StopIteration])
def test_a_repository_loader_raising_generator_exit_or_stop_iteration_hands_the_lease_on(
    server: MemcachedServer, users: Users, raised: type[BaseException]
) -> None:
    own = raised("the loader's own")

    def by_id(user_id: int) -> User | None:
        raise own

    with memlease.Client(server.address) as c:
        c.delete("user:id:1")
        repo = repository(c, users)
        repo.load["id"] = by_id
        with pytest.raises(raised) as caught:
            repo.get(id=1)
        assert caught.value is own
        assert c.get_or_lease("user:id:1", lease=memlease.LeasePolicy(retries=0)).won

    async def main() -> None:
        async with memlease.AsyncClient(server.address) as c:
            await c.delete("user:id:1")
            repo = repository(c, users)

            async def by_id(user_id: int) -> User | None:
                await asyncio.sleep(0)
                raise own

            repo.load["id"] = by_id
            # A StopIteration cannot leave a coroutine: Python turns it into RuntimeError.
            expected = RuntimeError if raised is StopIteration else raised
            with pytest.raises(expected) as caught:
                await repo.get(id=1)
            assert caught.value is own or caught.value.__cause__ is own
            lease = memlease.LeasePolicy(retries=0)
            assert (await c.get_or_lease("user:id:1", lease=lease)).won

    asyncio.run(main())


def test_async_repository(server: MemcachedServer, users: Users) -> None:
    async def main() -> None:
        async with memlease.AsyncClient(server.address) as c:
            repo = repository(c, users)

            async def by_id(user_id: int) -> User | None:
                await asyncio.sleep(0)
                return users.by_id(user_id)

            repo.load["id"] = by_id
            before = await repo.get(id=1)
            assert before == users.by_id(1)
            after = await repo.update(before, lambda: users.update(1, name="async"))
            assert await repo.get(id=1) == after
            assert await repo.delete(after, lambda: users.delete(1))
            assert await repo.get(id=1) is None

    asyncio.run(main())


def test_a_cancelled_async_write_still_completes_and_invalidates(
    server: MemcachedServer, users: Users
) -> None:
    async def main() -> None:
        async with memlease.AsyncClient(server.address) as c:
            repo = repository(c, users, none_ttl=60)
            before = await repo.get(id=3)
            assert await repo.get(email="new3@example.com") is None  # a cached "not found"

            async def write() -> Any:
                await asyncio.sleep(0.1)
                return users.update(3, email="new3@example.com")

            task = asyncio.ensure_future(repo.update(before, write))
            await asyncio.sleep(0.02)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.wait(list(c._orphans), timeout=10)  # the write runs to its end
            after = users.by_id(3)
            assert after is not None and after["email"] == "new3@example.com"
            assert await repo.get(id=3) == after
            assert await repo.get(email="new3@example.com") == after, "new key invalidated"
            assert await repo.get(email=before["email"]) is None

    asyncio.run(main())


# The randomized test.


@dataclass
class Run:
    reads: int = 0
    checked: int = 0
    writes: int = 0
    violations: list[str] = field(default_factory=list)
    # (lookup, what the read returned, when it started, when it ended): checked after the run,
    # once the history holds every write.
    log: list[tuple[dict[str, Any], Any, float, float]] = field(default_factory=list)


USERS = 16
DB_LATENCY = 0.0005


def reader_lookup(users: Users, rng: random.Random) -> dict[str, Any]:
    if rng.random() < 0.5:
        return {"id": rng.randrange(USERS)}
    return {"email": rng.choice(users.emails())}


def check_reads(users: Users, run: Run, accept_stale: bool = False) -> None:
    """Every read against the history. Readers that accept stale values may get an older
    version (the repository does not say which reads were stale), but never one that was not
    yet written when the read ended, nor another entity's."""
    for lookup, user, start, end in run.log:
        run.reads += 1
        if user is None:
            # "Not found" is checkable by id; e-mails move between versions and rows. (None
            # is never cached here, so never stale either.)
            if "id" in lookup:
                run.checked += 1
                if not users.was_absent(lookup["id"], start, end):
                    run.violations.append(f"{lookup} returned None while the row existed")
            continue
        run.checked += 1
        earliest = -math.inf if accept_stale else start
        if any(user[name] != value for name, value in lookup.items()):
            run.violations.append(f"{lookup} returned {user}")
        elif not users.was_current(user, earliest, end):
            run.violations.append(f"{lookup} returned {user}, not current during the read")


def write_plan(users: Users, user_id: int, rng: random.Random) -> tuple[Any, Any]:
    """(entity before, write function) for a random change of `user_id`."""
    current = users.by_id(user_id)
    if current is None:
        return None, lambda: users.insert(user_id, users.new_email(user_id), "recreated")
    roll = rng.random()
    if roll < 0.5:
        return current, lambda: users.update(user_id, name=f"n{rng.random():.6f}")
    if roll < 0.85:
        return current, lambda: users.update(user_id, email=users.new_email(user_id))
    return current, lambda: users.delete(user_id) and None


def thread_worker(
    repo: memlease.Repository[Any],
    users: Users,
    ids: list[int],
    run: Run,
    stop: threading.Event,
    seed: int,
) -> None:
    rng = random.Random(seed)
    while not stop.is_set():
        if rng.random() < 0.8:
            lookup = reader_lookup(users, rng)
            start = time.monotonic()
            user = repo.get(**lookup)
            run.log.append((lookup, user, start, time.monotonic()))
            continue
        user_id = rng.choice(ids)
        with WRITE_LOCKS[user_id]:
            before, write = write_plan(users, user_id, rng)
            start = time.monotonic()
            after = repo.create(write) if before is None else repo.update(before, write)
            users.record(user_id, after["version"] if after else None, start, time.monotonic())
        run.writes += 1


WRITE_LOCKS = [threading.Lock() for _ in range(USERS)]


async def coroutine_worker(
    repo: memlease.AsyncRepository[Any],
    users: Users,
    ids: list[int],
    run: Run,
    stop: threading.Event,
    seed: int,
    locks: dict[int, asyncio.Lock],
) -> None:
    rng = random.Random(seed)
    while not stop.is_set():
        if rng.random() < 0.8:
            lookup = reader_lookup(users, rng)
            start = time.monotonic()
            user = await repo.get(**lookup)
            run.log.append((lookup, user, start, time.monotonic()))
            continue
        user_id = rng.choice(ids)
        async with locks[user_id]:
            before, write = write_plan(users, user_id, rng)
            start = time.monotonic()
            if before is None:
                after = await repo.create(write)
            else:
                after = await repo.update(before, write)
            users.record(user_id, after["version"] if after else None, start, time.monotonic())
        run.writes += 1


def slow(load: Any) -> Any:
    def call(arg: Any) -> Any:
        time.sleep(DB_LATENCY)  # widen the windows in which reads and writes interleave
        return load(arg)

    return call


def aslow(load: Any) -> Any:
    async def call(arg: Any) -> Any:
        await asyncio.sleep(DB_LATENCY)
        return load(arg)

    return call


def randomized_run(
    servers: list[MemcachedServer],
    seconds: float,
    chaos: str | None,
    stale_ttl: int | None,
    accept_stale: bool = False,
) -> Run:
    users = Users(USERS)
    run = Run()
    stop = threading.Event()
    tracker = memlease.WriteFailureTracker(retry_interval=0.05, max_backoff=0.2)
    options: dict[str, Any] = {"timeout": 0.2, "mark_down_period": 0.2, "write_failures": tracker}
    addresses = [s.address for s in servers]
    sync_client = memlease.Client(addresses, **options)
    sync_client.flush_all()
    policy = {"stale_ttl": stale_ttl, "stale": memlease.StalePolicy(accept=accept_stale)}
    sync_repo = repository(sync_client, users, **policy)
    sync_repo.load = {"id": slow(users.by_id), "email": slow(users.by_email)}
    thread_ids, coroutine_ids = list(range(USERS // 2)), list(range(USERS // 2, USERS))

    async def coroutines() -> None:
        async with memlease.AsyncClient(addresses, **options) as aclient:
            repo = repository(aclient, users, **policy)
            repo.load = {"id": aslow(users.by_id), "email": aslow(users.by_email)}
            locks = {i: asyncio.Lock() for i in coroutine_ids}
            await asyncio.gather(
                *(
                    coroutine_worker(repo, users, coroutine_ids, run, stop, 1000 + n, locks)
                    for n in range(16)
                )
            )

    threads = [
        threading.Thread(target=thread_worker, args=(sync_repo, users, thread_ids, run, stop, n))
        for n in range(6)
    ]
    threads.append(threading.Thread(target=lambda: asyncio.run(coroutines())))
    for t in threads:
        t.start()
    try:
        time.sleep(seconds / 3)
        victim = servers[1]
        if chaos == "kill":
            victim.stop()
            time.sleep(seconds / 6)
            victim.restart()
        elif chaos == "freeze":
            victim.freeze()
            time.sleep(seconds / 6)
            victim.thaw()
        time.sleep(seconds - seconds / 3 - (seconds / 6 if chaos else 0))
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    check_reads(users, run, accept_stale)
    # Settle: every failed invalidation replayed, then cache and database must agree.
    deadline = time.monotonic() + 10
    while tracker.pending() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert tracker.pending() == [], f"invalidations still pending: {tracker.pending()}"
    time.sleep(0.3)  # past any mark-down
    for user_id in range(USERS):
        cached = sync_client.get(f"user:id:{user_id}")
        if cached is not None and cached != users.by_id(user_id):
            run.violations.append(
                f"after the run user:id:{user_id} holds {cached}, db {users.by_id(user_id)}"
            )
    for email in users.emails():
        cached = sync_client.get(f"user:email:{email}")
        if cached is not None and cached != users.by_email(email):
            run.violations.append(f"after the run user:email:{email} holds {cached}")
    stats = sync_client.read_through_stats()
    print(
        f"\n{chaos or 'steady'} stale_ttl={stale_ttl} accept_stale={accept_stale}: "
        f"{run.reads} reads ({run.checked} checked), "
        f"{run.writes} writes, tracker {tracker.stats()}, sync client {stats}"
    )
    sync_client.close()
    tracker.close()
    return run


@pytest.fixture
def trio() -> Iterator[list[MemcachedServer]]:
    servers = [MemcachedServer().start() for _ in range(3)]
    yield servers
    for srv in servers:
        srv.stop()


@pytest.mark.parametrize(
    ("chaos", "stale_ttl", "accept_stale"),
    [
        (None, None, False),
        (None, 5, False),
        ("kill", None, False),
        ("freeze", None, False),
        ("freeze", 5, False),
        ("kill", 5, True),
    ],
    ids=[
        "steady",
        "steady-stale-marks",
        "kill-restart",
        "freeze-thaw",
        "freeze-stale-marks",
        "kill-stale-accepted",
    ],
)
def test_randomized_reads_and_writes_stay_consistent(
    trio: list[MemcachedServer], chaos: str | None, stale_ttl: int | None, accept_stale: bool
) -> None:
    run = randomized_run(trio, 3.0, chaos, stale_ttl, accept_stale)
    assert run.violations == []
    assert run.checked > 500 and run.writes > 100
