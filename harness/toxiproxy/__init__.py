"""An embedded server compatible with Toxiproxy 2.12's HTTP API and toxics (see docs/faults.md)."""

from harness.toxiproxy.embedded import EmbeddedToxiproxy
from harness.toxiproxy.server import ToxiproxyServer
from harness.toxiproxy.toxics import TOXICS

__all__ = ["EmbeddedToxiproxy", "TOXICS", "ToxiproxyServer"]
