"""`prefetch --org SLUG [SESSION_ID ...] [--all]`: fetch full timelines now, with progress."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from reviewer import prefetch, promptster
from reviewer.models import Organization, TimelineSync


class Command(BaseCommand):
    help = "Fetch full timelines into the local store now (the same code the worker runs)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("session_ids", nargs="*")
        parser.add_argument("--org", required=True)
        parser.add_argument("--all", action="store_true", help="every session of the organization")

    def handle(self, *args: Any, **opts: Any) -> None:
        org = Organization.objects.filter(slug=opts["org"]).first()
        if org is None:
            raise CommandError(f"No organization with slug {opts['org']!r}.")
        ids = list(opts["session_ids"])
        client = promptster.client_for(org, retries=4, background=True)
        try:
            if opts["all"]:
                ids += [s.id for s in client.iter_sessions() if s.id not in ids]
        except promptster.PromptsterError as exc:
            raise CommandError(f"Could not list sessions: {exc.user_message}") from None
        if not ids:
            raise CommandError("Name session ids, or pass --all.")
        failures = 0
        for session_id in ids:
            failures += not self._prefetch_one(org, client, session_id)
        if failures:
            raise CommandError(f"{failures} of {len(ids)} session(s) failed.")

    def _prefetch_one(self, org: Organization, client: promptster.Client, session_id: str) -> bool:
        def progress(sync: TimelineSync) -> None:
            total = f"/{sync.expected_events}" if sync.expected_events else ""
            self.stdout.write(f"  {session_id}: {sync.events_stored}{total} events", ending="\r")
            self.stdout.flush()

        try:
            result = prefetch.prefetch(org, session_id, client=client, progress=progress)
        except promptster.PromptsterError as exc:
            self.stderr.write(f"{session_id}: failed: {exc.user_message} ({exc})")
            return False
        if result.status == "gone":
            self.stderr.write(f"{session_id}: not found upstream")
            return False
        if result.status == "blocked":
            sync = TimelineSync.objects.get(organization=org, session_id=session_id)
            self.stderr.write(f"{session_id}: {sync.last_error}")
            return False
        self.stdout.write(
            f"{session_id}: {result.status}, {result.events_stored} events stored" + " " * 10
        )
        return True
