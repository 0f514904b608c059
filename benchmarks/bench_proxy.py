"""Benchmark: what one pass through the embedded Toxiproxy costs, against a direct loopback connection.

Starts an echo server (uvloop, child process) and `harness toxiproxy` (child process), then measures
from this process, in one run:
  * request latency: `--requests` round trips of `--payload` bytes on one connection (p50, p99), direct and
    through a proxy without toxics; the proxy's added latency is reported per round trip and per hop
    (a round trip crosses the proxy twice);
  * throughput: `--megabytes` MB echoed (sent by one thread, read by another), direct, proxied, and
    proxied with a 100 ms downstream latency toxic (Toxiproxy's own target: >= 100 MB/s);
  * the same two with HTTP/1.1 bytes, so the proxy's arrival log parses them (its request tap): keep-alive
    GET requests as the round trips, and one POST whose Content-Length body is the `--megabytes` stream.
    The raw rows above are not HTTP: the tap gives up on their first bytes.
Results are printed as a table and as JSON (ratios proxied/direct included).

    .venv/bin/python benchmarks/bench_proxy.py [--requests 5000] [--payload 64] [--megabytes 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

import requests

from harness.toxiproxy.echo import connect

READY_TIMEOUT_S = 20.0


def serve_echo() -> None:
    """Child-process mode: an asyncio (uvloop) echo server; prints its port, runs until killed."""
    import uvloop

    class Echo(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.transport.write(data)  # type: ignore[attr-defined]

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Echo, "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Event().wait()

    uvloop.run(main())


def spawn(args: list[str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line:
        proc.kill()
        raise RuntimeError(f"{args} did not start")
    return proc, line


def latencies_us(port: int, count: int, payload: bytes) -> list[float]:
    out = []
    with connect(port, timeout=10) as conn:
        for _ in range(200):  # warm-up
            conn.sendall(payload)
            _recv_exact(conn, len(payload))
        for _ in range(count):
            start = time.perf_counter()
            conn.sendall(payload)
            _recv_exact(conn, len(payload))
            out.append((time.perf_counter() - start) * 1e6)
    return sorted(out)


def _recv_exact(conn: socket.socket, size: int) -> None:
    got = 0
    while got < size:
        data = conn.recv(max(65536, size - got))
        if not data:
            raise ConnectionError("closed early")
        got += len(data)


def http_request(size: int) -> bytes:
    """A keep-alive GET of about `size` bytes (the path pads it)."""
    head = b"GET /accounts/ HTTP/1.1\r\nHost: horizon\r\n\r\n"
    return head.replace(b"/ ", b"/" + b"a" * max(0, size - len(head)) + b" ")


def throughput_mbps(port: int, megabytes: int, http_head: bool = False) -> float:
    block = b"\xa5" * 65536
    total = megabytes * 1_000_000 // len(block) * len(block)
    head = f"POST /blob HTTP/1.1\r\nHost: h\r\nContent-Length: {total}\r\n\r\n".encode() if http_head else b""

    def send() -> None:
        conn.sendall(head)
        for _ in range(total // len(block)):
            conn.sendall(block)

    total += len(head)
    with connect(port, timeout=10) as conn:
        sender = threading.Thread(target=send, daemon=True)
        start = time.perf_counter()
        sender.start()
        _recv_exact(conn, total)
        elapsed = time.perf_counter() - start
        sender.join(10)
    return total / elapsed / 1e6


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def run(args: argparse.Namespace) -> dict[str, Any]:
    echo, echo_port_text = spawn([sys.executable, __file__, "--serve-echo"])
    proxy_proc, listening = spawn([sys.executable, "-m", "harness", "toxiproxy", "--port", "0"])
    try:
        echo_port = int(echo_port_text)
        api = listening.split(" ", 1)[1]
        listen = requests.post(api + "/proxies", json={"name": "bench", "upstream": f"127.0.0.1:{echo_port}"},
                               timeout=5).json()["listen"]
        proxy_port = int(listen.rsplit(":", 1)[1])
        payload = b"x" * args.payload
        direct = latencies_us(echo_port, args.requests, payload)
        proxied = latencies_us(proxy_port, args.requests, payload)
        http = http_request(args.payload)
        http_direct = latencies_us(echo_port, args.requests, http)
        http_proxied = latencies_us(proxy_port, args.requests, http)
        tp_direct = statistics.median(throughput_mbps(echo_port, args.megabytes) for _ in range(3))
        tp_proxied = statistics.median(throughput_mbps(proxy_port, args.megabytes) for _ in range(3))
        tp_http = statistics.median(throughput_mbps(proxy_port, args.megabytes, http_head=True) for _ in range(3))
        requests.post(api + "/proxies/bench/toxics", json={"type": "latency", "attributes": {"latency": 100}},
                      timeout=5)
        tp_latency = statistics.median(throughput_mbps(proxy_port, args.megabytes) for _ in range(3))
    finally:
        for proc in (proxy_proc, echo):
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
    result: dict[str, Any] = {"requests": args.requests, "payload_bytes": args.payload, "megabytes": args.megabytes}
    for q, label in ((0.5, "p50"), (0.99, "p99")):
        d, p = percentile(direct, q), percentile(proxied, q)
        result[f"direct_{label}_us"] = round(d, 1)
        result[f"proxied_{label}_us"] = round(p, 1)
        result[f"added_{label}_us_per_round_trip"] = round(p - d, 1)
        result[f"added_{label}_us_per_hop"] = round((p - d) / 2, 1)
        result[f"{label}_ratio"] = round(p / d, 2)
    d, p = percentile(http_direct, 0.5), percentile(http_proxied, 0.5)
    result["http_direct_p50_us"], result["http_proxied_p50_us"] = round(d, 1), round(p, 1)
    result["http_added_p50_us_per_round_trip"] = round(p - d, 1)
    result["direct_echo_MBps"] = round(tp_direct, 1)
    result["proxied_echo_MBps"] = round(tp_proxied, 1)
    result["throughput_ratio"] = round(tp_proxied / tp_direct, 2)
    result["proxied_http_body_echo_MBps"] = round(tp_http, 1)
    result["proxied_latency100ms_echo_MBps"] = round(tp_latency, 1)
    result["goal_added_p50_per_hop_under_200us"] = result["added_p50_us_per_hop"] < 200
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--payload", type=int, default=64)
    parser.add_argument("--megabytes", type=int, default=200)
    parser.add_argument("--serve-echo", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_echo:
        serve_echo()
        return 0
    result = run(args)
    for key, value in result.items():
        print(f"{key:40} {value}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
