"""Turn upstream failures into clear pages, and send a Content-Security-Policy."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from reviewer import promptster
from reviewer.access import SessionGone
from reviewer.crypto import TokenUnreadable

log = logging.getLogger(__name__)

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    """A second line of defence behind auto-escaping and sanitizing: no inline script runs."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        return response


_STATUS = {
    promptster.Unauthorized: 502,
    promptster.NotFound: 404,
    promptster.RateLimited: 503,
    promptster.Unavailable: 503,
    promptster.BadResponse: 502,
    promptster.Rejected: 502,
}


class UpstreamErrorMiddleware:
    """Views let upstream errors propagate; this renders them as pages or htmx fragments."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if isinstance(exc, SessionGone):
            return _render(request, "errors/gone.html", {}, 410)
        if isinstance(exc, TokenUnreadable):
            message = (
                "This organization's Promptster API token is missing or can no longer be "
                "decrypted. An admin can enter it again in the organization settings."
            )
            return _render(request, "errors/upstream.html", {"message": message}, 502)
        if isinstance(exc, promptster.PromptsterError):
            # The URL name, not the path: a share link's path is its secret.
            where = request.resolver_match.url_name if request.resolver_match else "?"
            log.warning("upstream error on %s: %s (%s)", where, exc, exc.status)
            status = _STATUS.get(type(exc), 502)
            response = _render(
                request, "errors/upstream.html", {"message": exc.user_message}, status
            )
            if isinstance(exc, promptster.RateLimited):
                response["Retry-After"] = str(int(exc.retry_after or 30))
            return response
        return None


def _render(request: HttpRequest, template: str, context: dict, status: int) -> HttpResponse:
    if getattr(request, "htmx", False):
        template = f"{template}#message"
    response = render(request, template, context, status=status)
    response["Cache-Control"] = "no-store"
    return response
