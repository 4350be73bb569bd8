"""The production server's application: ``gunicorn config.asgi -k uvicorn_worker.UvicornWorker``."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
django_application = get_asgi_application()

from apps.metering.api.fastpath import AsyncIntakeFastPath  # noqa: E402  (needs Django set up)
from config.warmup import warm_up  # noqa: E402

warm_up()
application = AsyncIntakeFastPath(django_application)
