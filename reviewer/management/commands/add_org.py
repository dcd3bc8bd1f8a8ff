"""`add_org SLUG --name NAME --api-url URL --token TOKEN` (`--token -` reads stdin)."""

from __future__ import annotations

import sys
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import URLValidator, validate_slug

from reviewer import origins
from reviewer.models import AuditEntry, Organization, OriginNeedsToken


class Command(BaseCommand):
    help = "Create or update an organization and its Promptster API token."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name")
        parser.add_argument("--api-url", dest="api_url")
        parser.add_argument("--token", help="the API token, or - to read it from stdin")

    def handle(self, *args: Any, **opts: Any) -> None:
        slug = opts["slug"]
        try:
            validate_slug(slug)
            if opts["api_url"]:
                URLValidator(schemes=["http", "https"])(opts["api_url"])
                # An operator's origin is trusted as set (a sandbox on 127.0.0.1 included),
                # but still has the shape of an origin.
                opts["api_url"] = origins.clean_origin(opts["api_url"], trusted=True)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        token = opts["token"]
        if token == "-":
            token = sys.stdin.readline().strip()
        found = Organization.objects.filter(slug=slug).first()
        created = found is None
        if found is None:
            if not opts["api_url"] or not token:
                raise CommandError("A new organization needs --api-url and --token.")
            org = Organization(slug=slug, name=opts["name"] or slug)
        else:
            org = found
        if opts["name"]:
            org.name = opts["name"]
        if opts["api_url"]:
            try:
                org.set_origin(opts["api_url"], token=token or "", trusted=True)
            except OriginNeedsToken:
                raise CommandError("A new --api-url needs its --token too.") from None
        elif token:
            org.set_token(token)
        org.save()
        if token and not created:
            AuditEntry.record(org, AuditEntry.Action.TOKEN_CHANGED, via="command line")
        self.stdout.write(
            f"{'Created' if created else 'Updated'} organization {org.slug} ({org.name})"
        )
