from .base import *  # noqa: F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = False
LOGGING = build_logging("WARNING", "console")  # noqa: F405
ALLOWED_HOSTS = ["*"]

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    # A file, not memory, so that subprocesses under test (servers, workers) share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}  # noqa: F405

# In-process broker: tests start their own worker threads; stack tests start real processes
# with their own filesystem broker.
CELERY_BROKER_URL = env.str("TEST_CELERY_BROKER_URL", default="memory://")  # noqa: F405
