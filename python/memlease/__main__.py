"""``python -m memlease``: the command-line tool (see ``memlease.cli``)."""

from memlease.cli import main

# Guarded: tools that import every module of the package (the API reference's inspection of
# docstrings) must not run the command line.
if __name__ == "__main__":
    main()
