"""``python -m cimqb_traj ...``: the ``cimqb-traj`` command line, with its exit code."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
