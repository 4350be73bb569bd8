from .base import *  # noqa: F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = False
LOGGING = build_logging("WARNING", "console")  # noqa: F405
ALLOWED_HOSTS = ["*"]

if "pool" in DATABASES["default"]["OPTIONS"] and not env.bool("DATABASE_POOL", default=False):  # noqa: F405
    # pytest's own process keeps a connection per thread, as pytest-django expects; the
    # servers that tests start set DATABASE_POOL=true and run pooled, as in production.
    del DATABASES["default"]["OPTIONS"]["pool"]  # noqa: F405
    DATABASES["default"]["CONN_MAX_AGE"] = 60  # noqa: F405
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # noqa: F405

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    # A file, not memory, so that subprocesses under test (servers, workers) share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}  # noqa: F405

# In-process broker: tests start their own worker threads; stack tests start real processes
# with their own filesystem broker.
CELERY_BROKER_URL = env.str("TEST_CELERY_BROKER_URL", default="memory://")  # noqa: F405
