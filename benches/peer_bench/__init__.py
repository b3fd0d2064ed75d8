"""memlease against other Python memcached clients, end to end on a throwaway memcached.

``benches/bench.py`` (or ``python -m peer_bench`` from ``benches/``) runs it; ``cli.py``'s
docstring, printed by ``--help``, says what it measures and how to read the report. Modules,
in the order a run uses them: cli (arguments, the run), dataset, client_api (base classes),
sync_clients, async_clients, raw_socket, client_registry, scenarios, rounds, timing, results,
memory (memory_mixed_1M), report, progress (stderr).
"""
