"""``python -m sandbox``: serve the sandbox API in the foreground (see ``sandbox.server.main``)."""

from sandbox.server import main

if __name__ == "__main__":
    raise SystemExit(main())
