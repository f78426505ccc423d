"""``python -m cimqb_traj.cli ...``: the ``cimqb-traj`` command line, with its exit code."""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
