"""``python -m atmoscope``: the command line."""

import sys

from atmoscope.cli import main

if __name__ == "__main__":
    sys.exit(main())
