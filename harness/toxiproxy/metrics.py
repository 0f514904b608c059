"""Proxy byte counters in Prometheus text (`toxiproxy_proxy_{received,sent}_bytes_total`).

As in Toxiproxy, a link's bytes are added when the link ends. Labels: direction, listener, proxy,
upstream.
"""

from __future__ import annotations

from collections import defaultdict

Labels = tuple[str, str, str, str]  # direction, listener, proxy, upstream

_HELP = {
    "received": "The total bytes received from the source of a link",
    "sent": "The total bytes sent to the destination of a link",
}


class ProxyMetrics:
    """Accumulates per-link byte counts; `render()` gives the Prometheus exposition text."""

    def __init__(self) -> None:
        self._counts: dict[str, dict[Labels, int]] = {"received": defaultdict(int), "sent": defaultdict(int)}

    def record(self, direction: str, listener: str, proxy: str, upstream: str, received: int, sent: int) -> None:
        labels = (direction, listener, proxy, upstream)
        self._counts["received"][labels] += received
        self._counts["sent"][labels] += sent

    def total(self, kind: str, proxy: str, direction: str) -> int:
        """Sum of a counter for one proxy and direction (for tests and reports)."""
        return sum(v for (d, _l, p, _u), v in self._counts[kind].items() if p == proxy and d == direction)

    def render(self) -> str:
        lines: list[str] = []
        for kind in ("received", "sent"):
            metric = f"toxiproxy_proxy_{kind}_bytes_total"
            lines.append(f"# HELP {metric} {_HELP[kind]}")
            lines.append(f"# TYPE {metric} counter")
            for (direction, listener, proxy, upstream), value in sorted(self._counts[kind].items()):
                label_text = ",".join(
                    f'{key}="{_escape(val)}"'
                    for key, val in (("direction", direction), ("listener", listener), ("proxy", proxy),
                                     ("upstream", upstream))
                )
                lines.append(f"{metric}{{{label_text}}} {value}")
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
