import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import transaction
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from apps.core.models import Heartbeat
from apps.core.tasks import heartbeat
from config.celery import app as celery_app


@pytest.fixture
def worker(transactional_db):
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_heartbeat_is_recorded_by_a_real_worker(worker):
    heartbeat.delay()
    assert wait_for(lambda: Heartbeat.objects.filter(name="celery").exists())
    beat = Heartbeat.objects.get(name="celery")
    assert beat.runs == 1 and beat.is_fresh()
    assert beat.worker_hostname
    heartbeat.delay()
    assert wait_for(lambda: Heartbeat.objects.get(name="celery").runs == 2)


def test_tasks_are_sent_only_after_commit(worker):
    with pytest.raises(RuntimeError), transaction.atomic():
        heartbeat.delay_on_commit()
        raise RuntimeError("roll back")
    with transaction.atomic():
        heartbeat.delay_on_commit()
        time.sleep(0.5)  # still inside the transaction: nothing may have been sent yet
        assert not Heartbeat.objects.exists()
    assert wait_for(lambda: Heartbeat.objects.filter(name="celery").exists())
    time.sleep(0.5)
    assert Heartbeat.objects.get(name="celery").runs == 1  # the rolled-back one never ran


def test_beat_uses_the_database_scheduler_with_the_heartbeat(transactional_db):
    assert celery_app.conf.beat_scheduler.endswith("DatabaseScheduler")
    DatabaseScheduler(app=celery_app)  # beat does this on start: it syncs the schedule
    task = PeriodicTask.objects.get(name="heartbeat")
    assert task.task == "apps.core.tasks.heartbeat"
    assert task.interval.every == 30 and task.enabled


def test_delivery_is_at_least_once_even_if_a_worker_dies():
    assert celery_app.conf.task_acks_late is True
    assert celery_app.conf.task_reject_on_worker_lost is True
    assert celery_app.conf.worker_prefetch_multiplier == 1
