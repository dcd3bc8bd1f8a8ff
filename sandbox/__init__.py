"""A standalone stand-in for the Promptster reviewer API.

It serves the documented ``/v1`` endpoints over deterministic generated data so that the demo, the
test-suite and the benchmarks never need the real upstream. It lives beside the product, not inside
it: it plays the upstream the product's client talks to, so it shares no code with that client. It
depends on the standard library only and is not part of the product's wheel; run it from a checkout
with ``python -m sandbox --port 8765``.

``SandboxServer`` is imported lazily so that ``sandbox.data`` can be used without the HTTP layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.server import SandboxServer

__all__ = ["SandboxServer"]


def __getattr__(name: str) -> Any:
    if name == "SandboxServer":
        from sandbox.server import SandboxServer

        return SandboxServer
    raise AttributeError(name)
