from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the demo superuser if missing and print its login (development only)."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password", default="meterline")
        parser.add_argument("--email", default="admin@example.com")

    def handle(self, *args, username, password, email, **options):
        user_model = get_user_model()
        user = user_model.objects.filter(username=username).first()
        if user is None:
            user_model.objects.create_superuser(username=username, email=email, password=password)
            self.stdout.write(f"Demo superuser: {username} / {password}")
        else:
            self.stdout.write(f"Demo superuser: {username} (already exists; password unchanged)")
