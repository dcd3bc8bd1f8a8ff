"""A standalone stand-in for the Promptster reviewer API.

It serves the documented ``/v1`` endpoints over deterministic generated data so that the demo, the
test-suite and the benchmarks never need the real upstream. It lives beside the product, not inside
it: it plays the upstream the product's client talks to, so it shares no code with that client. It
depends on the standard library only and is not part of the product's wheel; run it from a checkout
with ``python -m sandbox --port 8765``.

Modules, from the outside in:

* :mod:`sandbox.server`: the threaded HTTP server (:class:`SandboxServer`) and the CLI;
* :mod:`sandbox.app`: the WSGI application: routes, handlers, ``/_sandbox/*`` control routes;
* :mod:`sandbox.responses`, :mod:`sandbox.faults`: bodies and error shapes; faults, random
  failures and rate limits;
* :mod:`sandbox.data`: the state (:class:`~sandbox.data.SandboxState`) and its queries;
* :mod:`sandbox.roster`: who sat which assessment (orgs, tokens, assessments, special sessions);
* :mod:`sandbox.generate`, :mod:`sandbox.turns`, :mod:`sandbox.diffs`, :mod:`sandbox.stamps`:
  events built on demand, turn plans, unified diffs, ids and timestamps;
* :mod:`sandbox.scenarios`: loads the scenario files under ``sandbox/scenarios/<name>/``;
* :mod:`sandbox.scripted`: sessions played event by event from ``sandbox/scenarios/api/*.toml``;
* :mod:`sandbox.hostile`: hostile strings for the hostile session.

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
