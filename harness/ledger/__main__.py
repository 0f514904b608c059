"""`python -m harness.ledger ...` = `harness ledger ...`."""

from __future__ import annotations

import argparse
import sys

from harness.ledger.cli import add_arguments, main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m harness.ledger", description="offline Stellar network")
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
