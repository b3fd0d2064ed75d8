#!/usr/bin/env python3
"""Benchmark memlease against other Python memcached clients (``make bench``).

The code is the package ``peer_bench`` beside this file; ``--help`` prints what it measures and
how to read the report.
"""

import sys

from peer_bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
