"""Path converters: an id is checked once, where the URL is resolved (a malformed id is a 404)."""

from __future__ import annotations

from reviewer.upstream import ID_RE

# `<id>` or `<id>~N`: the key of the Nth record upstream sent under one event id.
KEY_PATTERN = ID_RE.pattern + r"(?:~[0-9]{1,5})?"


class IdConverter:
    """A Promptster id (session, assessment, event), as `upstream.ID_RE` defines it."""

    regex = ID_RE.pattern

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class EventKeyConverter(IdConverter):
    """A stored event's key: its id, or `<id>~N` (see `models.event_key`)."""

    regex = KEY_PATTERN
