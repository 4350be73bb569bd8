from pathlib import Path

from django.conf import settings
from django.db import connections
from django.http import JsonResponse
from django.shortcuts import redirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.core.problems import problem_response
from config.celery import app as celery_app


@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


READINESS_DATABASE_TIMEOUT_SECONDS = 3


def check_database() -> None:
    database = connections["default"]
    if pool := getattr(database, "pool", None):
        # A request waits up to DATABASE_POOL_TIMEOUT_SECONDS for a connection; a readiness
        # probe must say "unavailable" sooner than probes time out.
        pool.open()
        with pool.connection(timeout=READINESS_DATABASE_TIMEOUT_SECONDS) as pooled:
            pooled.execute("SELECT 1")
        return
    with database.cursor() as cursor:
        cursor.execute("SELECT 1")


def check_broker() -> None:
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        if not folder.is_dir():
            raise OSError(f"broker folder {folder} is missing")
        return
    with celery_app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=2)


@never_cache
@require_GET
def readyz(request):
    checks, ready = {}, True
    for name, check in (("database", check_database), ("broker", check_broker)):
        try:
            check()
            checks[name] = "ok"
        except Exception as exc:  # any failure means "not ready"; say which and why
            checks[name] = f"error: {exc.__class__.__name__}: {exc}".strip()[:300]
            ready = False
    return JsonResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )


def home(request):
    return redirect("admin:index")


def api_not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return problem_response(request, 404, "not_found", "No such endpoint.")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def api_server_error(request):
    if request.path.startswith("/api/"):
        return problem_response(request, 500, "server_error", "Internal server error.")
    from django.views.defaults import server_error

    return server_error(request)
