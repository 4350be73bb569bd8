"""WSGI entry point (``runserver``, or any WSGI server); production serves config.asgi."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
django_application = get_wsgi_application()

from apps.metering.api.fastpath import IntakeFastPath  # noqa: E402  (needs Django set up)
from config.warmup import warm_up  # noqa: E402

warm_up()
application = IntakeFastPath(django_application)
