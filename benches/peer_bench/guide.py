"""The --help text: what the bench measures and how to read its report."""

GUIDE = """\
Benchmark memlease against other Python memcached clients on a throwaway local memcached.

Running it (``make bench`` builds memlease, installs the peers and runs everything)::

    .venv/bin/pip install -r benches/requirements.txt
    .venv/bin/python benches/bench.py
    .venv/bin/python benches/bench.py --rounds 3 --seconds 1 --scenarios get_100B,get_many_100 \\
        --clients memlease,pylibmc,raw-socket --json /tmp/bench.json
    .venv/bin/python benches/bench.py --scenarios async_get_100B,async_seq_get_100B
    .venv/bin/python benches/bench.py --scenarios memory_mixed_1M --memory-ops 100000
    .venv/bin/python benches/bench.py --scenarios fleet16_get_many_1000 --clients memlease,pylibmc
    .venv/bin/python benches/bench.py --rounds 1 --seconds 0.5 --scenarios mixed_1KB \\
        --results /tmp/bench.md      # a trial run: keep it out of benches/results/

A run writes its report to benches/results/<date>.md (<date>-2.md, ... if that exists) with the
machine, Python, memcached and commit, and the chart beside it (<date>.svg); --results and
--chart choose other paths, --no-results writes neither unless --chart names one.

Scenarios (one thread, one connection per client unless named threads*, async* or fleet*;
values are random bytes stored with flags 0, so no client can win by compressing, and memlease
runs with ``serde="raw"`` and compression off):

    get_100B            sequential get hit, 100 B value
    set_100B            sequential acknowledged set, 100 B value (pymemcache with noreply=False)
    mixed_1KB           sequential 90 % get hits / 10 % acknowledged sets of 1 KB values, in
                        one seeded order over 1,000 keys, the same for every client
    get_many_100        get_many of 100 keys with 100 B values; throughput counted in keys/s
    get_many_100_1KB    the same with 1 KB values
    set_many_100        set_many of 100 keys with 100 B values, acknowledged; in keys/s
                        (pylibmc set_multi; not meta-memcache, which has no multi-key set)
    get_100KB           sequential get hit, 100 KB value
    set_100KB           sequential acknowledged set, 100 KB value
    threads4_get_100B   4 threads each doing sequential 100 B get hits; throughput is the total
                        over the threads. memlease and meta-memcache share one client,
                        pymemcache one PooledClient (max_pool_size=4; its plain Client is not
                        thread-safe), pylibmc gives each thread its own clone()
    threads8_get_100B   the same with 8 threads (PooledClient max_pool_size=8)
    local_hit           sequential hit of a named cache's in-process layer, no I/O: memlease's
                        LocalLayer.get (entries tagged twice) against cachetools' TTLCache
                        under a threading.Lock (``with lock: cache.get(key)``); only those two
    lease_get_100B      sequential hit through the lease-aware read (memlease get_or_lease,
                        meta-memcache get_or_lease with its default LeasePolicy): what the
                        thundering-herd protection costs on a hit; only clients with leases
    async_get_100B      256 coroutines on one asyncio event loop (asyncio's default loop, no
                        uvloop), each awaiting sequential 100 B get hits on one shared client;
                        throughput is the total over the coroutines
    async_seq_get_100B  one coroutine awaiting sequential 100 B get hits: one call's latency
                        through the event loop
    async_mixed_1KB     500 coroutines on one shared client, each awaiting mixed_1KB's calls
                        (90 % gets / 10 % sets of 1 KB); expect zero errors from memlease
    fleet16_get_many_1000
                        get_many of 1,000 keys (100 B values) spread over 16 memcached of its
                        own (1 thread each, started only when it is chosen, every key on every
                        server since each client hashes its own way); memlease's Client,
                        pylibmc's Client and pymemcache's HashClient, each given all 16
    memory_mixed_1M     memlease only, a one-shot run rather than rounds: see "Memory check"

Clients: memlease, pymemcache, pylibmc, meta-memcache, cachetools (local_hit only), and
raw-socket: a few lines of Python that send ``mg <key> v`` and read until the whole reply is
in (get_100B only). raw-socket is
what one round trip costs a Python program on this machine, the floor for any client. The
async scenarios have clients of their own: memlease (its AsyncClient, default timeouts and
max_connections), aiomcache (default pool_size=2), emcache with its defaults (1 s timeout,
max_connections=2), and emcache-notimeout: emcache with timeout=None, without which its calls
time out at 256 coroutines. Each async client has an event loop of its own, running all along
on a thread of its own, in which it is opened, measured and closed.

How it measures: the bench starts its own memcached (2 threads) and stores the data. For each
scenario every client first gets an untimed warm-up, then the clients take turns, one timed
round each (memlease, peer, peer, ..., memlease, peer, ...), --rounds times, so that the
machine's slow drifts hit every client alike. A round calls the operation back to back for
--seconds and timestamps every call with ``time.perf_counter_ns``. In threads*_get_100B the
threads wait at a barrier, the window of --seconds opens when the last one arrives and is the
same for all of them; only calls that end inside it count. An async round opens one window for
all its coroutines the same way, and its throughput counts the successful calls that end inside
it; but its latencies (and errors) are those of every call that starts inside the window,
waited for to its end, so that a coroutine the client keeps waiting is not left out. A call
that raises in an async round does not end the round: it is counted as an error and its
coroutine goes on; its time is among the latencies (the caller waited for it). A call still
pending 5 s after the window closed is cancelled and counted as an error ("hung").

Reading the output: progress goes to stderr, then a markdown table goes to stdout, one row per
(scenario, client):

    throughput    median over the rounds of successful calls/s (keys/s for get_many*,
                  set_many_100 and the fleet)
    p50 / p99     median over the rounds of each round's per-call latency percentile, in µs
                  (one get_many_100 call fetches 100 keys)
    max           median over the rounds of each round's longest call, in µs. Percentiles
                  weigh callers by their calls: a client that serves a few coroutines quickly
                  while the others wait makes few slow calls, which p99 may not show; max
                  does, and so do the lines under the table that count, per round, the
                  coroutines that completed no call inside the window
    errors        failed calls, summed over the timed rounds (async scenarios; elsewhere an
                  exception stops the client's row, shown as "error: ..."); their kinds are
                  listed under the table
    CPU s / 100k  this process's CPU time (user + sys, every thread: the callers, an async
    ops           client's loop, memlease's runtime workers; time.process_time) over a round,
                  divided by the calls it paid for, per 100,000 calls (keys for get_many*,
                  set_many_100, the fleet); median over the rounds. memcached's CPU is not in
                  it (another process). Threads: from the window's opening to the last
                  thread's end, over the counted calls and each thread's last one. Async: from
                  the window's opening until every call started in it has ended, over those.
    memlease ÷    memlease's median throughput divided by this row's; above 1 means memlease
                  is faster. On the raw-socket row it tells how close memlease comes to a bare
                  round trip written in Python.
    spread        (max - min) / median of the row's per-round throughputs: how noisy it was

Under the table, one line per concurrent scenario divides memlease's throughput in it by its
throughput with a single caller from the same run (threads4_get_100B and threads8_get_100B by
get_100B, async_get_100B by async_seq_get_100B; the peers' ratios follow in brackets): above 1
means concurrent callers sharing one client get more done than one, which a client holding the
GIL while it waits on the network cannot do. With 2 CPUs shared with memcached, expect well
under the number of callers.

Under that, a second table divides memlease by each peer, per scenario: throughput, and CPU
per operation. A row where memlease is faster but spends more than 1.2x the peer's CPU per
operation says "win bought with CPU: not a win". The chart (--chart) shows, per scenario,
memlease ÷ the fastest peer in throughput and ÷ the most frugal peer in CPU per operation
(raw-socket is not a peer there).

Memory check (memory_mixed_1M): memlease's Client, then its AsyncClient with 256 coroutines,
each run --memory-ops (1,000,000) operations against a memcached of their own (256 MB: nothing
is evicted): 60 % get, 20 % set, 10 % get_many of 10 keys, 10 % delete, over 10,000 keys
holding random values of 10 B to 10 KB, drawn from a seeded generator. Every value read back
must be one of those stored. The first tenth of the operations is a warm-up; this process's
VmRSS is read after it and again after the last operation (each time after gc.collect()), and
"growth" is the increase between the two. Its own small table follows the main one, with the
ops/s of the nine measured tenths and the operations that failed.

Read the ratios, not the absolute numbers: on a shared VM, memcached and the client compete for
the same few CPUs and loopback round trips dominate, so absolute figures move by tens of percent
from run to run. A ratio difference smaller than the rows' spread is noise.
"""
