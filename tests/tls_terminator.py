"""An https front for a plain-http loopback server, for clients that refuse plain http.

@stellar/stellar-sdk's `contract.AssembledTransaction` builds its `rpc.Server` without `allowHttp`, so
the official x402 client can reach Soroban RPC only over https, as it does every real RPC provider.
`TlsTerminator` accepts TLS on a free loopback port with a throw-away certificate for 127.0.0.1
(made by the `openssl` command) and pipes the plain bytes to the upstream port; the client trusts the
certificate through `NODE_EXTRA_CA_CERTS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import subprocess
import threading
from pathlib import Path
from typing import Any


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """(certificate, key) for CN/SAN 127.0.0.1, valid one day."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the openssl command is needed to make a test certificate")
    cert, key = directory / "rpc-cert.pem", directory / "rpc-key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=30)
    return cert, key


class TlsTerminator:
    """TLS on 127.0.0.1:`port` -> plain TCP to 127.0.0.1:`upstream_port`, on its own event-loop thread."""

    def __init__(self, upstream_port: int, cert: Path, key: Path) -> None:
        self.upstream_port = upstream_port
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tls-terminator", daemon=True)
        self._thread.start()
        self._server: asyncio.AbstractServer | None = None
        self.port = self._call(self._start())

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.context)
        return int(self._server.sockets[0].getsockname()[1])

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError, ssl.SSLError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(OSError, ssl.SSLError):
                dst.close()

        with contextlib.suppress(asyncio.CancelledError):  # shutdown: end quietly
            await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def close(self) -> None:
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> TlsTerminator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
