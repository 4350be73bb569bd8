"""`make run`'s process set on the embedded default: web, worker and beat, no servers."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings

from apps.core.tests.test_health import free_port

pytestmark = pytest.mark.stack


def wait_until(predicate, timeout, message):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (requests.ConnectionError, sqlite3.OperationalError):
            pass
        time.sleep(0.3)
    raise AssertionError(message)


def heartbeat_runs(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        row = connection.execute("SELECT runs FROM core_heartbeat WHERE name='celery'").fetchone()
    return row[0] if row else 0


def test_web_worker_and_beat_run_without_servers_and_stop_on_ctrl_c(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE"}}
    env |= {
        "METERLINE_VAR_DIR": str(tmp_path),
        "METERLINE_PORT": str(port),
        "HEARTBEAT_INTERVAL_SECONDS": "2",
        "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
    }
    manage = [sys.executable, "manage.py"]
    for command in (["migrate", "--noinput"], ["seed_demo"]):
        subprocess.run(manage + command, cwd=settings.BASE_DIR, env=env, check=True,
                       capture_output=True)
    stack = subprocess.Popen(
        [sys.executable, "-m", "honcho", "-f", "Procfile.dev", "start"],
        cwd=settings.BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: requests.get(f"{base}/healthz", timeout=2).ok, 60, "web never came up")
        assert requests.get(f"{base}/readyz", timeout=5).json()["status"] == "ready"
        assert "Meterline" in requests.get(f"{base}/admin/login/", timeout=5).text
        database = tmp_path / "meterline.sqlite3"
        wait_until(lambda: heartbeat_runs(database) >= 2, 60,
                   "beat did not schedule the heartbeat twice, or no worker ran it")
    finally:
        os.killpg(stack.pid, signal.SIGINT)  # what Ctrl-C sends to the foreground group
        try:
            output = stack.communicate(timeout=30)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            os.killpg(stack.pid, signal.SIGKILL)
            raise
    assert stack.returncode is not None
    leftovers = subprocess.run(["pgrep", "-s", str(stack.pid)], capture_output=True, text=True)
    assert leftovers.stdout == "", f"processes still running after Ctrl-C:\n{output[-3000:]}"
