import os
import subprocess
import sys

from django.conf import settings

PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.prod",
    "DJANGO_SECRET_KEY": "k3v9!q2m#x7z@p4w8r1t6y0u5i3o9a2s4d6f8g1h3j5k7l9z2x4c6v8b0n",
    "DJANGO_ALLOWED_HOSTS": "billing.example.com",
    "DATABASE_URL": "postgres://meterline:secret@db.internal:5432/meterline",
    "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
}


def production_env(var_dir, **overrides) -> dict[str, str]:
    # The browser tests' async-unsafe switch must never reach production.
    inherited = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    return inherited | PRODUCTION_ENV | {"METERLINE_VAR_DIR": str(var_dir)} | overrides


def run_manage(*args, env):
    return subprocess.run([sys.executable, "manage.py", *args], cwd=settings.BASE_DIR,
                          env=env, capture_output=True, text=True)


def test_production_settings_pass_deploy_checks(tmp_path):
    env = production_env(tmp_path)
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_a_missing_or_weak_secret_key(tmp_path):
    env = production_env(tmp_path, DJANGO_SECRET_KEY="short")
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr
    env.pop("DJANGO_SECRET_KEY")
    assert run_manage("check", env=env).returncode != 0
