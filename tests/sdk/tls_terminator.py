#!/usr/bin/env python3
"""A local TLS terminator for SDK versions that only speak https to the License API (Python SDK 2.x and 3.0).

`TestCA` makes a throw-away certificate authority and a server certificate for 127.0.0.1 with the `openssl` command
(the SDK is told to trust the CA through REQUESTS_CA_BUNDLE: it talks to the server with `requests`).
`TlsTerminator` accepts TLS on 127.0.0.1:<random port> in a background thread and relays the plain bytes to the
keyway server (plain http): the SDK sees https://127.0.0.1:<port>, keyway sees an ordinary http client.

Standard library only (plus the openssl binary), so it runs in every SDK's virtual environment.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import threading

OPENSSL_TIMEOUT = 60


class TestCA:
    """A CA (EC P-256) and one server certificate for 127.0.0.1, signed by it, in `directory`."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.ca_cert = os.path.join(directory, "ca.pem")
        self.server_cert = os.path.join(directory, "server.pem")
        self.server_key = os.path.join(directory, "server.key")
        ca_key = os.path.join(directory, "ca.key")
        csr = os.path.join(directory, "server.csr")
        ext = os.path.join(directory, "server.ext")
        with open(ext, "w", encoding="ascii") as handle:
            handle.write(
                "basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\n"
                "subjectAltName=IP:127.0.0.1\n"
                "subjectKeyIdentifier=hash\n"
                "authorityKeyIdentifier=keyid\n"
            )
        self._openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", ca_key)
        self._openssl(
            "req", "-x509", "-new", "-key", ca_key, "-sha256", "-days", "2", "-subj", "/CN=keyway test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-addext", "subjectKeyIdentifier=hash",
            "-out", self.ca_cert,
        )
        self._openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", self.server_key)
        self._openssl("req", "-new", "-key", self.server_key, "-subj", "/CN=127.0.0.1", "-out", csr)
        self._openssl(
            "x509", "-req", "-in", csr, "-CA", self.ca_cert, "-CAkey", ca_key, "-CAcreateserial",
            "-sha256", "-days", "2", "-extfile", ext, "-out", self.server_cert,
        )

    @staticmethod
    def _openssl(*args: str) -> None:
        done = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=OPENSSL_TIMEOUT)
        if done.returncode != 0:
            raise RuntimeError(f"openssl {args[0]} failed: {done.stderr.strip()}")


class TlsTerminator:
    """TLS on 127.0.0.1:<port> relayed to upstream_host:upstream_port, served by an asyncio loop in a daemon thread."""

    def __init__(self, ca: TestCA, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.context.load_cert_chain(ca.server_cert, ca.server_key)
        self.connections = 0  # TLS handshakes completed
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="tls-terminator", daemon=True)

    def start(self) -> "TlsTerminator":
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the TLS terminator did not start")
        if self._error is not None:
            raise RuntimeError(f"the TLS terminator did not start: {self._error}")
        return self

    def stop(self) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.context, ssl_handshake_timeout=30)
            )
            self.port = self._server.sockets[0].getsockname()[1]
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            self._loop.close()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            self._pipe(client_reader, upstream_writer),
            self._pipe(upstream_reader, client_writer),
            return_exceptions=True,
        )

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            try:
                if writer.can_write_eof():
                    writer.write_eof()
                else:
                    writer.close()
            except (OSError, RuntimeError):
                writer.close()
