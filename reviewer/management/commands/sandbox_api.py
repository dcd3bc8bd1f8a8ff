"""`sandbox_api --port PORT [--seed N] [--latency-ms MS]`: the bundled Promptster-compatible API.

A thin wrapper around ``python -m sandbox``. The sandbox lives beside the product in a source
checkout (it is not part of the installed package), so it is imported only when the command runs.
"""

from __future__ import annotations

import importlib
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Serve the bundled Promptster-compatible API on 127.0.0.1 (generated data)."
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--latency-ms", type=int, default=0)
        parser.add_argument(
            "--rate-limit", type=int, default=300, help="requests/min per IP; 0 = off"
        )
        parser.add_argument("--fail-rate", type=float, default=0.0, help="share of random 503s")

    def handle(self, *args: Any, **opts: Any) -> None:
        main = sandbox_main()
        main(
            [
                "--port",
                str(opts["port"]),
                "--seed",
                str(opts["seed"]),
                "--latency-ms",
                str(opts["latency_ms"]),
                "--rate-limit",
                str(opts["rate_limit"]),
                "--fail-rate",
                str(opts["fail_rate"]),
            ]
        )


def sandbox_main() -> Any:
    """The sandbox's CLI entry point, or a CommandError when this is not a source checkout."""
    try:
        server = importlib.import_module("sandbox.server")
    except ModuleNotFoundError as exc:
        if exc.name not in ("sandbox", "sandbox.server"):
            raise
        raise CommandError(
            "The sandbox API is not installed with the product: run this command from a source "
            "checkout (or `python -m sandbox --port 8765` from its top folder)."
        ) from exc
    return server.main
