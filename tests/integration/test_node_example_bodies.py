"""The Node example drains the body it refuses: after a 413 the next request on the connection is answered.

The P32 finding of `test_node_example_target` (seed 4242): the fuzzer with user index 13 sent its first batch on
one keep-alive connection: a decision, a channel update, an oversized settlement (a corpus case padded to 199,721
bytes), then an escrow whose amount is an integer (with a junk Content-Type), which got no answer in 30 s. The
example answered the oversized body 413 with `Connection: keep-alive` but had left its
`for await (const chunk of req)` loop by throwing: Node then destroys the request with its socket detached
(lib/internal/streams/destroy.js, destroyer(): `isServerRequest` -> `stream.socket = null`), the next body
bytes llhttp parses are pushed into the destroyed request, push() returns false and the socket is paused for
good (lib/_http_common.js parserOnBody -> readStop). Nothing reads the connection again, so the client's next
request waits until its timeout. It takes body bytes arriving in a read after the refusal that does not also end
the message: a body of more than three 64 KiB socket reads (199,721 bytes; on a quiet machine a request of
195,082 bytes was answered, one of 196,082 was not), or a smaller one arriving in pieces (a busy machine, a
real network), which the paced tests below send.

The client is right: the message ends where its Content-Length (or last chunk) says, not where the answer was
sent (RFC 9112 §6.3), and a connection answered without the "close" option persists (RFC 9112 §9.3), so sending
the next request on it is what an HTTP/1.1 client does. Node's own handling of a body the application never
reads is the fix's model: it drains it after the answer (lib/_http_server.js resOnFinish -> req._dump()).

The broken variant (tests/js/abandoning_body.mjs: the pre-fix reader swapped in with a module hook) must leave
the next request unanswered, which shows each test can fail.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from geventhttpclient import HTTPClient

from harness.run.worlds import free_port
from scenarios.corpus import TEMPLATES, VALID_G, case_body

pytestmark = pytest.mark.timeout(60)
REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_EXAMPLE = REPO_ROOT / "examples" / "node-target"
ABANDONING_BODY = REPO_ROOT / "tests" / "js" / "abandoning_body.mjs"
PATIENCE_S = 4.0
LIMIT = 64 * 1024  # the example's body limit
PIECE = 16 * 1024  # a paced body arrives in reads of this size, PAUSE_S apart
PAUSE_S = 0.05
JSON_TYPE = {"Content-Type": "application/json"}
# The seed-4242 run's two cases, built as the fuzzer builds them (scenarios/corpus.py, scenarios/users/fuzzer.py)
OVERSIZED = case_body({"pad_bytes": 199_721}) or b""
ESCROW = json.dumps({**TEMPLATES["escrow"], "amount": 2585648586656}).encode()
ESCROW_HEADERS = {"Content-Type": "}$c"}


def start_example(tmp_path: Path, *node_options: str) -> tuple[subprocess.Popen[str], int]:
    assert (NODE_EXAMPLE / "node_modules" / "@stellar" / "stellar-sdk").is_dir(), \
        "run `npm ci` in examples/node-target (make test does)"
    node = shutil.which("node")
    assert node is not None, "node is not on PATH"
    accounts, keys = tmp_path / "accounts.json", tmp_path / "api-keys"
    accounts.write_text(json.dumps({"settlement_pool": [], "x402_pay_to": VALID_G}))
    keys.write_text("")
    port = free_port()
    env = {**os.environ, "PORT": str(port), "STELLAR_NETWORK_PASSPHRASE": "Standalone Network ; February 2017",
           "SRH_ACCOUNTS_FILE": str(accounts), "SRH_API_KEYS_FILE": str(keys),
           "HORIZON_URL": f"http://127.0.0.1:{free_port()}"}  # never called: every request here is refused first
    proc = subprocess.Popen([node, *node_options, str(NODE_EXAMPLE / "server.mjs")], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("LISTENING "):
        proc.kill()
        raise AssertionError(f"the Node example did not start: {line}{proc.communicate(timeout=10)[0][-2000:]}")
    return proc, port


@pytest.fixture(params=["fixed", "broken"])
def example(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, int]]:
    """The Node example, and the broken variant: the same server with the pre-fix body reader."""
    hook = f'import {{ register }} from "node:module"; register({json.dumps(ABANDONING_BODY.as_uri())});'
    options = ("--import", f"data:text/javascript,{hook}") if request.param == "broken" else ()
    proc, port = start_example(tmp_path, *options)
    try:
        yield request.param, port
    finally:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture
def client(example: tuple[str, int]) -> Iterator[HTTPClient]:
    """geventhttpclient, the fuzzers' HTTP client (Locust's FastHttpUser), on one keep-alive connection."""
    http = HTTPClient("127.0.0.1", example[1], concurrency=1, network_timeout=PATIENCE_S,
                      connection_timeout=PATIENCE_S)
    try:
        yield http
    finally:
        http.close()


def paced(data: bytes) -> Iterator[bytes]:
    """`data` in PIECE-sized parts, PAUSE_S apart: each part arrives in a read of its own."""
    for start in range(0, len(data), PIECE):
        yield data[start:start + PIECE]
        time.sleep(PAUSE_S)


def error_of(response: object) -> tuple[int, str]:
    return response.status_code, json.loads(response.read())["error"]  # type: ignore[attr-defined]


def escrow_after_refusal(variant: str, client: HTTPClient) -> None:
    """The request that went unanswered: the example serves no escrows, so a JSON 404 (broken: no answer)."""
    if variant == "broken":
        with pytest.raises(TimeoutError):
            client.post("/contracts/escrow", body=ESCROW, headers=ESCROW_HEADERS)
        return
    assert error_of(client.post("/contracts/escrow", body=ESCROW, headers=ESCROW_HEADERS)) == (404, "not_found")


def test_the_seed_4242_fuzzer_batch_is_answered_in_full(example: tuple[str, int], client: HTTPClient) -> None:
    """The finding as the fuzzer sent it: the oversized settlement at once (Content-Length), then the escrow."""
    refused = client.post("/settlements", body=OVERSIZED, headers=JSON_TYPE)
    assert error_of(refused) == (413, "payload_too_large")
    assert refused.get("connection") == "keep-alive"  # so the client rightly sends its next request on it
    escrow_after_refusal(example[0], client)


def test_a_chunked_body_growing_past_the_limit_is_refused_and_drained(example: tuple[str, int],
                                                                      client: HTTPClient) -> None:
    """No Content-Length to refuse up front: the body passes 64 KiB while it is read, in paced pieces."""
    refused = client.post("/settlements", body=paced(OVERSIZED[:LIMIT + 4 * PIECE]),
                          headers={**JSON_TYPE, "Transfer-Encoding": "chunked"})
    assert error_of(refused) == (413, "payload_too_large")
    escrow_after_refusal(example[0], client)


def test_a_client_that_reads_the_early_413_then_sends_the_rest_is_served_next(example: tuple[str, int]) -> None:
    """A raw client that reads the 413 while its body (Content-Length) is still on the way, then sends the rest
    of it in two reads and its next request."""
    variant, port = example
    body = OVERSIZED[:LIMIT + 4 * PIECE]
    head = f"POST /settlements HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    escrow = (f"POST /contracts/escrow HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: }}$c\r\n"
              f"Content-Length: {len(ESCROW)}\r\n\r\n").encode() + ESCROW
    with socket.create_connection(("127.0.0.1", port), timeout=PATIENCE_S) as sock:
        sock.sendall(head)
        for part in paced(body[:LIMIT + PIECE]):
            sock.sendall(part)
        assert read_answer(sock).startswith(b"HTTP/1.1 413 ")
        sock.sendall(body[LIMIT + PIECE:LIMIT + 2 * PIECE])
        time.sleep(PAUSE_S)
        sock.sendall(body[LIMIT + 2 * PIECE:] + escrow)
        if variant == "broken":
            with pytest.raises(TimeoutError):
                read_answer(sock)
            return
        assert read_answer(sock).startswith(b"HTTP/1.1 404 ")


def read_answer(sock: socket.socket) -> bytes:
    """One answer in the example's framing (chunked), or TimeoutError."""
    data = b""
    while not data.endswith(b"\r\n0\r\n\r\n"):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        data += chunk
    return data
