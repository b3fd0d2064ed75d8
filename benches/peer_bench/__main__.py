"""``python -m peer_bench`` (from benches/): the same as ``benches/bench.py``."""

import sys

from .cli import main

sys.exit(main())
