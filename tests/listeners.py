"""Raw TCP listeners on 127.0.0.1 that play a broken network peer: one that answers every
request with fixed bytes, or accepts connections and never answers (a hung Redis)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

import pytest


class _Listener:
    """A local server answering every request with `reply` (raw bytes), or never."""

    def __init__(self, reply: bytes | None) -> None:
        self.reply = reply
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.requests: list[bytes] = []
        self._held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(2)
            with contextlib.suppress(OSError):
                self.requests.append(conn.recv(65536))
            if self.reply is None:
                self._held.append(conn)  # accept, never answer
                continue
            with contextlib.suppress(OSError):
                conn.sendall(self.reply)
            conn.close()

    def close(self) -> None:
        self.sock.close()
        for conn in self._held:
            conn.close()


@pytest.fixture
def listener() -> Iterator[Callable[[bytes | None], _Listener]]:
    made: list[_Listener] = []

    def make(reply: bytes | None) -> _Listener:
        made.append(_Listener(reply))
        return made[-1]

    yield make
    for one in made:
        one.close()
