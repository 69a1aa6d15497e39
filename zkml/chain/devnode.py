"""A local anvil node (from the npm package @foundry-rs/anvil) for development and tests.

It listens on 127.0.0.1 only, on a free port, and is stopped by :meth:`Anvil.stop` or on
leaving the ``with`` block.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from types import TracebackType

from zkml._solc import node_bin
from zkml.errors import ToolchainError

__all__ = ["Anvil", "ANVIL_DEV_KEY"]

#: anvil's first well-known development account key (public knowledge; never for real funds).
ANVIL_DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Anvil:
    """Start anvil on 127.0.0.1; ``url`` is its JSON-RPC endpoint."""

    def __init__(self, port: int | None = None, *, timeout: float = 30.0) -> None:
        binary = node_bin("anvil", "@foundry-rs/anvil")
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [str(binary), "--host", "127.0.0.1", "--port", str(self.port), "--silent",
             "--code-size-limit", "100000", "--gas-limit", "30000000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ToolchainError(f"anvil exited at start (code {self.proc.returncode}).")
            if self._answers():
                return
            time.sleep(0.1)
        self.stop()
        raise ToolchainError(f"anvil did not listen on port {self.port} within {timeout} s.")

    def _answers(self) -> bool:
        """Does the node answer JSON-RPC? (A listening socket alone was seen to refuse the
        next connection while anvil was still starting.)"""
        body = b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}'
        req = urllib.request.Request(self.url, data=body,
                                     headers={"Content-Type": "application/json"})
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback
        try:
            with direct.open(req, timeout=1.0) as resp:
                return b'"result"' in resp.read()
        except (OSError, ValueError):
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Anvil:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
