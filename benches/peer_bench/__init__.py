"""memlease against other Python memcached clients, end to end on a throwaway memcached.

``benches/bench.py`` (or ``python -m peer_bench`` from ``benches/``) runs it; ``guide.py``'s
text, printed by ``--help``, says what it measures and how to read the report. Modules, in
the order a run uses them: cli (arguments, the run), dataset, client_api (base classes),
sync_clients, async_clients, raw_socket, client_registry, scenario_types, checks, scenarios,
fleet and fleet_clients (the 16-server scenario), rounds, timing, results, memory
(memory_mixed_1M), environment, table, ratios, report, chart, results_file, progress (stderr).
"""
