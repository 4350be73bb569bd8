from django.core.management.base import BaseCommand, CommandError

from apps.metering import services
from apps.metering.models import Meter


class Command(BaseCommand):
    help = "Recompute meter rollups from the stored raw events (all live meters by default)."

    def add_arguments(self, parser):
        parser.add_argument("slugs", nargs="*", help="Meter slugs; none means every meter.")

    def handle(self, *args, slugs, **options):
        meters = Meter.objects.filter(deleted_at__isnull=True)
        if slugs:
            meters = meters.filter(slug__in=slugs)
            missing = set(slugs) - set(meters.values_list("slug", flat=True))
            if missing:
                raise CommandError(f"No such meter: {', '.join(sorted(missing))}")
        for meter in meters:
            counted = services.rebuild_rollups(meter=meter)
            self.stdout.write(f"{meter.slug}: rebuilt from {counted} events")
