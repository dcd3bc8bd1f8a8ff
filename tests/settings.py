"""Test settings: the real settings, pointed at a Redis database of the tests' own."""

import os

os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-not-for-production-use-0123456789")

from reviewer.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
PROMPTSTER_TIMEOUT = (2.0, 1.5)
PROMPTSTER_TASK_RETRIES = 2
LOGGING["root"]["level"] = "WARNING"  # type: ignore[index]  # noqa: F405

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not shared-cache memory: concurrent tests then lock like production SQLite does.
    VAR_DIR.mkdir(parents=True, exist_ok=True)  # noqa: F405 - a fresh clone has no var/ yet
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}  # noqa: F405
