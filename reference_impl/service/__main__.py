"""`python -m reference_impl.service ...` (same options as `harness serve`)."""

from __future__ import annotations

import argparse
import sys

from reference_impl.service.cli import add_arguments, main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m reference_impl.service", description=__doc__)
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
