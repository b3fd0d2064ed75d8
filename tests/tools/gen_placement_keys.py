"""Regenerate src/route/ring/testdata/placement_keys.txt, the keys every placement vector file
places.

Run it only when the key set in placement_common.make_keys changes, then rerun every
gen_*_vectors.py generator.

    .venv/bin/python -m tests.tools.gen_placement_keys
"""

from __future__ import annotations

from tests.tools.placement_common import make_keys, write_keys

if __name__ == "__main__":
    keys = make_keys()
    write_keys(keys)
    print(f"{len(keys)} keys")
