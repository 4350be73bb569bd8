from datetime import datetime

from django.core.management.base import BaseCommand, CommandError

from apps.billing.services import run_billing


class Command(BaseCommand):
    help = "Run the billing cycle as of now, or as of --at (an RFC 3339 instant)."

    def add_arguments(self, parser):
        parser.add_argument("--at", help="e.g. 2026-12-01T01:00:00Z; default: now")

    def handle(self, *args, at=None, **options):
        as_of = None
        if at:
            try:
                as_of = datetime.fromisoformat(at.replace("Z", "+00:00"))
            except ValueError as error:
                raise CommandError(f"--at: {error}") from error
            if as_of.tzinfo is None:
                raise CommandError("--at needs a time zone, e.g. 2026-12-01T01:00:00Z")
        result = run_billing(as_of)
        self.stdout.write(f"Billed {result.cycles} cycles on {len(result.invoices)} invoices; "
                          f"issued {len(result.issued)}.")
