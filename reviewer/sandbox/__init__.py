"""A standalone stand-in for the Promptster reviewer API.

It serves the documented ``/v1`` endpoints over deterministic generated data so that the demo, the
test-suite and the benchmarks never need the real upstream. It depends on the standard library
only and imports nothing else from ``reviewer``; ``SandboxServer`` is imported lazily so that
``reviewer.sandbox.data`` can be used without the HTTP layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reviewer.sandbox.server import SandboxServer

__all__ = ["SandboxServer"]


def __getattr__(name: str) -> Any:
    if name == "SandboxServer":
        from reviewer.sandbox.server import SandboxServer

        return SandboxServer
    raise AttributeError(name)
