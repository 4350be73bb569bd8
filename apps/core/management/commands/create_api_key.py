from django.core.management.base import BaseCommand

from apps.core import services


class Command(BaseCommand):
    help = "Create an API key and print it once (it is stored only as a hash)."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="What the key is for, e.g. 'kong-gw'.")

    def handle(self, *args, name, **options):
        api_key, raw_key = services.api_key_create(name=name)
        self.stderr.write(f"Created API key {api_key.prefix}… ({api_key.name}); "
                          "store it now, it cannot be shown again:")
        self.stdout.write(raw_key)
