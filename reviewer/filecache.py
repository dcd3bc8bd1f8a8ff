"""The embedded set-up's cache: Django's file cache with an `add` that only one process wins.

Django's `FileBasedCache.add` checks for the file, then writes it: two processes (gunicorn's
workers, the Celery worker) that ask at once both "add" and both believe they hold what the
key stands for, such as `reviewer.cache`'s refresh lock, so a stampede of cold requests calls
upstream once per process instead of once. Here the entry is written to a temporary file and
hard-linked into place, which the filesystem refuses when the file exists: one caller wins.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.filebased import FileBasedCache


class AtomicFileCache(FileBasedCache):
    """`FileBasedCache` whose `add(key, value, timeout)` returns True for exactly one of any
    number of concurrent callers, across processes, and False while a live entry exists."""

    def add(
        self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        if self.has_key(key, version):  # also removes an expired entry
            return False
        django: Any = self  # FileBasedCache's own helpers, which its type stubs do not list
        django._createdir()
        fd, temporary = tempfile.mkstemp(dir=django._dir)
        try:
            with open(fd, "wb") as f:
                django._write_content(f, timeout, value)
            os.link(temporary, django._key_to_file(key, version))
        except FileExistsError:
            return False
        finally:
            os.remove(temporary)
        return True
