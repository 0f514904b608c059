"""`python -m harness.toxiproxy`: same as `harness toxiproxy`."""

import argparse
import sys

from harness.toxiproxy.cli import add_arguments, main

parser = argparse.ArgumentParser(prog="python -m harness.toxiproxy", description="embedded Toxiproxy server")
add_arguments(parser)
sys.exit(main(parser.parse_args()))
