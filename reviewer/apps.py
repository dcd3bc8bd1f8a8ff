"""The reviewer app's configuration: connects the signal receivers it owns."""

from __future__ import annotations

from django.apps import AppConfig


class ReviewerConfig(AppConfig):
    """Loads `reviewer.accounts` so that login lockouts reach the audit log."""

    name = "reviewer"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from reviewer import accounts  # noqa: F401  - registers its signal receivers
