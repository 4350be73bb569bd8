import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
django_application = get_wsgi_application()

from django.urls import get_resolver  # noqa: E402  (needs Django set up)

from apps.metering.api.wsgi import IntakeFastPath  # noqa: E402  (needs Django set up)
from apps.metering.domain.windows import parse_time_zone  # noqa: E402

# Pay while the worker boots, not in its first requests (~65 ms together, which the first
# requests of every new worker would otherwise wait for): importing every URLconf and view,
# and listing the tz database's zone names.
url_patterns = get_resolver().url_patterns
parse_time_zone("UTC")

application = IntakeFastPath(django_application)
