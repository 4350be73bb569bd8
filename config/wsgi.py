import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
django_application = get_wsgi_application()

from apps.metering.api.wsgi import IntakeFastPath  # noqa: E402  (needs Django set up)

application = IntakeFastPath(django_application)
