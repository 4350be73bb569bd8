from django.core.management.base import BaseCommand

from apps.billing.demo import seed_billing
from apps.catalog.demo import seed_catalog
from apps.customers.demo import seed_customers
from apps.metering.demo import seed_metering


class Command(BaseCommand):
    help = "Load Meterline's demo world (safe to run again: it updates rather than duplicates)."

    def handle(self, *args, **options):
        customers = seed_customers()
        events = seed_metering()
        catalog = seed_catalog()
        billing = seed_billing()
        self.stdout.write(f"Demo data ready: {len(customers)} customers, {events} new events, "
                          f"{catalog['plans']} new plans, {catalog['addons']} new add-ons, "
                          f"{billing['subscriptions']} new subscriptions, "
                          f"{billing['invoices']} invoices billed.")
