"""`add_member USERNAME --org SLUG --role viewer|reviewer|admin --password PASS`."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from reviewer import accounts
from reviewer.models import Membership, Organization, Role


class Command(BaseCommand):
    help = (
        "Create the user if missing and give them a role in an organization (an operator's "
        "action: no invitation). Django's username and password validators apply."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--org", required=True)
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--password")

    def handle(self, *args: Any, **opts: Any) -> None:
        org = Organization.objects.filter(slug=opts["org"]).first()
        if org is None:
            raise CommandError(f"No organization with slug {opts['org']!r}.")
        users = get_user_model()
        try:
            username = accounts.validate_username(opts["username"])
            if opts["password"]:
                accounts.validate_new_password(opts["password"], username)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        user = users.objects.filter(username=username).first()
        if user is None:
            if not opts["password"]:
                raise CommandError("A new user needs --password.")
            user = users.objects.create_user(username=username, password=opts["password"])
        elif opts["password"]:
            user.set_password(opts["password"])
            user.save(update_fields=["password"])
        Membership.objects.grant(org, user, opts["role"], via="command line")
        self.stdout.write(f"{user.get_username()} is {opts['role']} in {org.slug}")
