"""reviewer: a review dashboard for Promptster sessions."""

from reviewer.celery import app as celery_app

__all__ = ["celery_app"]
