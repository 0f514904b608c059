"""`python -m reference_impl.facilitator ...`: see reference_impl/facilitator/cli.py."""

from __future__ import annotations

import sys

from reference_impl.facilitator.cli import main

if __name__ == "__main__":
    sys.exit(main())
