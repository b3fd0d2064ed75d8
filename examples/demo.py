"""A short tour of memlease against throwaway memcached servers it starts and stops itself.

Run it with `make demo` (which builds the extension and installs memcached when missing).
"""

from __future__ import annotations

import os
import threading
import time

import memlease
from memlease.testing import MemcachedServer


def show(what: str, result: object) -> None:
    print(f"  {what:<52} -> {result!r}")


def tour(client: memlease.Client) -> None:
    print("\nBasics (values keep their Python type; the flags are pymemcache's):")
    show('set("user:1", {"name": "Ada"}, ttl=60)', client.set("user:1", {"name": "Ada"}, ttl=60))
    show('get("user:1")', client.get("user:1"))
    show('get("user:2", default="miss")', client.get("user:2", default="miss"))
    show('add("user:1", ...) when present', client.add("user:1", {"name": "Bob"}))
    show('incr("hits", initial=100)', client.incr("hits", initial=100))
    show('incr("hits", 5)', client.incr("hits", 5))
    show('set(b"bin\\x00key", "binary keys work")', client.set(b"bin\x00key", "binary keys work"))
    show('get(b"bin\\x00key")', client.get(b"bin\x00key"))

    print("\nCAS: a slow writer cannot overwrite newer data:")
    _value, cas = client.gets("user:1") or (None, 0)
    client.set("user:1", {"name": "Ada Lovelace"})
    show(f"cas('user:1', stale write, cas={cas})", client.cas("user:1", {"name": "stale"}, cas))
    show('get("user:1")', client.get("user:1"))

    print("\nThree servers, keys placed like pylibmc's ketama_weighted:")
    data = {f"item:{i}": i * i for i in range(12)}
    show("set_many(12 items)  (failed keys)", client.set_many(data))
    for key in ("item:0", "item:1", "item:2"):
        show(f"server_for({key!r})", client.server_for(key))
    show("get_many(item:0..11 + 2 missing) size", len(client.get_many([*data, "nope:1", "nope:2"])))

    print("\nLeases: 20 threads miss the same key at once, the loader runs once:")
    loads = []

    def load_report() -> str:
        loads.append(1)
        time.sleep(0.05)  # an expensive query
        return "expensive result"

    results = []

    def reader() -> None:
        results.append(client.get_or_compute("report:7", load_report, ttl=300))

    threads = [threading.Thread(target=reader) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    show("20 concurrent get_or_compute: loader calls", len(loads))
    show("every caller got", set(results))

    print("\nA write during the computation wins (no stale set):")
    lease = client.get_or_lease("price:9")
    show("get_or_lease on a miss: won, cas", (lease.won, lease.cas))
    client.invalidate("price:9")  # the row changed while we computed
    show("fill with the old lease's CAS", client.fill("price:9", 100, lease.cas, ttl=60))

    print("\nStale-while-revalidate: invalidate by marking stale:")
    show('invalidate("report:7", stale_ttl=30)', client.invalidate("report:7", stale_ttl=30))
    accept = memlease.StalePolicy(accept=True)
    first = client.get_or_lease("report:7", stale=accept)
    show("first reader: value, stale, won", (first.value, first.stale, first.won))
    second = client.get_or_lease("report:7", stale=accept)
    show("second reader: value, stale, won", (second.value, second.stale, second.won))
    show("plain get of a stale item", client.get("report:7"))
    show("read-through stats", client.read_through_stats())

    named_caches(client)

    print("\nErrors are typed:")
    try:
        client.set("huge", os.urandom(2 * 1024 * 1024))
    except memlease.ValueTooLarge as e:
        show("set 2 MiB value", f"ValueTooLarge: {e}")
    try:
        client.get("")
    except memlease.InvalidKey as e:
        show('get("")', f"InvalidKey: {e}")

    print("\nSpeed (one thread, sequential, loopback):")
    client.set("bench", b"x" * 100)
    n = 2000
    started = time.perf_counter()
    for _ in range(n):
        client.get("bench")
    elapsed = time.perf_counter() - started
    show(f"{n} sequential gets", f"{n / elapsed:,.0f} ops/s")
    keys = [f"item:{i % 12}" for i in range(100)]
    started = time.perf_counter()
    for _ in range(200):
        client.get_many(keys)
    elapsed = time.perf_counter() - started
    show("get_many of 100 keys over 3 servers", f"{200 * 100 / elapsed:,.0f} keys/s")
    show("stats: total curr_items", sum(int(s["curr_items"]) for s in client.stats().values()))


def named_caches(client: memlease.Client) -> None:
    print("\nNamed caches: request, in-process and memcached layers, invalidated by tag:")
    caches = memlease.CacheManager(client, "demo")
    users = caches.cache("users", ttl=300, local_ttl=5)
    db = {42: {"name": "Ada", "team": 7}}
    loads: list[int] = []

    def load_user() -> dict[str, object]:
        loads.append(42)
        return dict(db[42])

    show("users.key(42)", users.key(42))
    with caches.request_scope():  # one web request: each id read past this layer once
        for _ in range(3):
            users.get(42, load_user, tags=["team:7"])
    show("3 gets in one request: loader calls", len(loads))

    def local_hits() -> int:
        return int(caches.stats()["caches"]["users"]["layers"]["local"]["hits"])

    before = local_hits()
    users.get(42, load_user, tags=["team:7"])
    show("a later request: in-process hits (no I/O)", local_hits() - before)
    db[42]["name"] = "Ada L."
    caches.invalidate_tags(["team:7"])  # O(tags), whatever the number of entries
    show("after invalidate_tags(['team:7'])", users.get(42, load_user, tags=["team:7"]))
    layers = caches.stats()["caches"]["users"]["layers"]
    show("hits per layer", {name: layer["hits"] for name, layer in layers.items()})
    caches.close()


def failover(servers: list[MemcachedServer]) -> None:
    print("\nA server dies: marked down, its keys read as misses, nothing piles up:")
    events: list[str] = []
    client = memlease.Client(
        [s.address for s in servers],
        timeout=0.2,
        on_server_error="miss",
        on_event=lambda event, server, detail: events.append(f"{event} {server}"),
    )
    doomed = servers[2]
    key = next(f"cart:{i}" for i in range(1000) if client.server_for(f"cart:{i}") == doomed.address)
    client.set(key, ["book"])
    doomed.freeze()  # accepts connections, never answers: the worst kind of failure
    started = time.perf_counter()
    show(f"get({key!r}) on the frozen server", client.get(key, default="miss"))
    show("  ... took", f"{(time.perf_counter() - started) * 1000:.0f} ms (the timeout)")
    started = time.perf_counter()
    for _ in range(1000):
        client.get(key)
    show("1000 more gets while marked down", f"{(time.perf_counter() - started) * 1000:.1f} ms")
    show(f"set({key!r}) while down", client.set(key, ["pen"]))
    show("events", events)
    doomed.thaw()
    client.close()

    print("\nHot keys: one key stored as 3 copies, and a local cache of what memcached calls hot:")
    client = memlease.Client(
        [s.address for s in servers],
        hot_keys=["config:global"],
        local_cache_size=1000,
        local_cache_admission=1.0,
    )
    client.set("config:global", {"feature": True})
    copy_names = ["config:global"] + [f"config:global:memlease-copy-{i}" for i in (1, 2)]
    holders = []
    for server in servers:
        with memlease.Client(server.address) as single:
            if any(single.get(name) is not None for name in copy_names):
                holders.append(server.address)
    show("servers holding a copy", holders)
    for _ in range(100):
        client.get("config:global")
    show("100 reads; local cache", client.local_cache_stats())
    client.close()


def main() -> None:
    print("Starting three throwaway memcached servers on loopback ...")
    servers = [MemcachedServer().start() for _ in range(3)]
    try:
        addresses = [s.address for s in servers]
        print("  servers:", ", ".join(addresses))
        with memlease.Client(addresses) as client:
            print("  versions:", client.version())
            tour(client)
        failover(servers)
    finally:
        for server in servers:
            server.stop()
        print("\nServers stopped. Done.")


if __name__ == "__main__":
    main()
