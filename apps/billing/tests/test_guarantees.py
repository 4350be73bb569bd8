"""Exactly-once billing, gap-free numbering and immutability, under concurrency and crashes."""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, connections, transaction

from apps.billing import services
from apps.billing.models import Invoice, InvoiceLine, SubscriptionCycle
from apps.billing.tests.conftest import D, at, customer, run, use
from apps.billing.tests.test_scenarios import basic_plan, subscribe

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL")


def in_threads(count, target):
    """Run `target(i)` in `count` threads released together; re-raise the first error."""
    barrier = threading.Barrier(count)
    errors = []

    def work(index):
        try:
            barrier.wait()
            target(index)
        except Exception as error:  # reported to the test below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def small_world(customers=6):
    plan = basic_plan()
    for index in range(customers):
        who = customer(f"c{index}")
        subscribe(who, plan, "2026-01-01T00:00:00Z")
        for month in (1, 2, 3):
            use(f"c{index}", "calls", 100 * (index + 1), f"2026-0{month}-10T00:00:00Z")
    return plan


def expected_totals(index):
    usage = D(100 * (index + 1)) / 100  # at $0.01
    return [D("10.00")] + [D("10.00") + usage] * 3


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_bill_each_cycle_once(world):
    small_world()
    in_threads(4, lambda _: services.run_billing(at("2026-04-01T00:00:00Z")))
    assert SubscriptionCycle.objects.count() == 6 * 4
    for index in range(6):
        invoices = Invoice.objects.filter(customer__key=f"c{index}").order_by("cycle_at")
        assert [i.total for i in invoices] == expected_totals(index)
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert numbers == [f"INV-2026-{n:06d}" for n in range(1, 25)]


@pytest.mark.django_db
def test_running_twice_changes_nothing(world):
    small_world(2)
    run("2026-04-01T00:00:00Z")
    before = list(Invoice.objects.order_by("id").values())
    run("2026-04-01T00:00:00Z")
    run("2026-04-01T00:30:00Z")
    assert list(Invoice.objects.order_by("id").values()) == before


def drafts(count):
    acme = customer("acme")
    made = []
    for index in range(count):
        invoice = Invoice.objects.create(customer=acme, profile=services.default_profile(),
                                         currency="USD")
        InvoiceLine.objects.create(invoice=invoice, type="manual", customer=acme,
                                   name=f"Line {index}", period_start=at("2026-01-01T00:00Z"),
                                   period_end=at("2026-02-01T00:00Z"), subtotal=D(1),
                                   amount=D(1), managed=False)
        made.append(invoice)
    return made


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_200_invoices_issued_concurrently_get_contiguous_numbers(world):
    invoices = drafts(200)
    world.move_to(at("2026-03-01T00:00:00Z"), tick=False)

    def issue(worker):
        for invoice in invoices[worker::8]:
            services.invoice_issue(invoice)

    in_threads(8, issue)
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert numbers == [f"INV-2026-{n:06d}" for n in range(1, 201)]


@pytest.mark.django_db
def test_a_rolled_back_issue_gives_its_number_back(world):
    first, second = drafts(2)
    with pytest.raises(RuntimeError), transaction.atomic():
        services.invoice_issue(first)
        raise RuntimeError("crash after numbering")
    assert services.invoice_issue(second).number.endswith("-000001")


@pytest.fixture
def issued(world):
    small_world(1)
    run("2026-02-01T00:00:00Z")
    return Invoice.objects.filter(status="issued").order_by("cycle_at").last()


@pytest.mark.django_db
def test_issued_invoices_refuse_changes_through_the_orm(issued):
    issued.total = D("1.00")
    with pytest.raises(ValidationError):
        issued.save()
    line = issued.lines.first()
    line.amount = D("1.00")
    with pytest.raises(ValidationError):
        line.save()
    with pytest.raises(ValidationError):
        line.delete()
    with pytest.raises(ValidationError):
        issued.delete()
    issued.refresh_from_db()
    issued.status = "paid"  # payment status still moves
    issued.save()


@postgres_only
@pytest.mark.django_db
def test_issued_invoices_refuse_raw_sql_on_postgresql(issued):
    statements = [
        ("UPDATE billing_invoice SET total = 1 WHERE id = %s", [issued.pk]),
        ("UPDATE billing_invoice SET status = 'draft' WHERE id = %s", [issued.pk]),
        ("DELETE FROM billing_invoice WHERE id = %s", [issued.pk]),
        ("UPDATE billing_invoiceline SET amount = 1 WHERE invoice_id = %s", [issued.pk]),
        ("DELETE FROM billing_invoiceline WHERE invoice_id = %s", [issued.pk]),
        ("INSERT INTO billing_invoiceline (invoice_id, position, type, customer_id, "
         "rate_card_key, feature_key, name, description, period_start, period_end, subtotal, "
         "discount, adjustment, amount, tiers, managed) SELECT id, 9, 'manual', customer_id, "
         "'', '', 'sneaky', '', now(), now(), 1, 0, 0, 1, '[]', false FROM billing_invoice "
         "WHERE id = %s", [issued.pk]),
    ]
    for sql, params in statements:
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE billing_invoice SET status = 'paid' WHERE id = %s", [issued.pk])
    issued.refresh_from_db()
    assert issued.status == "paid" and issued.lines.count() == 2


@pytest.mark.django_db
def test_issued_invoices_cannot_be_changed_through_the_api(api, issued):
    url = f"/api/v1/billing/invoices/{issued.pk}"
    assert api.put(url, {"total": "1"}, format="json").status_code == 405
    assert api.patch(url, {"total": "1"}, format="json").status_code == 405
    assert api.delete(url).status_code == 405
    assert api.post(f"{url}/approve").status_code == 409


# --- a real worker killed in the middle of a run ------------------------------------------

BROKER = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")


def start_worker(env):
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo",
         "--without-heartbeat", "--without-mingle", "--without-gossip", "-l", "WARNING"],
        cwd=settings.BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)


def wait(predicate, timeout):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_run_and_restarted_bills_the_same_invoices(world, test_db_env):
    from kombu import Connection

    from apps.billing.tasks import run_billing_cycle

    try:
        with Connection(BROKER, connect_timeout=3) as probe:
            probe.connect()
    except Exception as error:
        pytest.fail(f"RabbitMQ is needed for this test ({BROKER}): {error}")
    with Connection(BROKER) as broker, contextlib.suppress(Exception):
        broker.default_channel.queue_purge("celery")  # leftovers of an earlier run
    customers = 40
    small_world(customers)
    total_cycles = customers * 4
    env = test_db_env | {"TEST_CELERY_BROKER_URL": BROKER, "CELERY_BROKER_URL": BROKER}
    worker = start_worker(env)
    try:
        with Connection(BROKER) as broker:
            run_billing_cycle.apply_async(kwargs={"at": "2026-04-01T00:00:00+00:00"},
                                          connection=broker)
        wait(lambda: SubscriptionCycle.objects.count() >= 10, timeout=180)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        done = SubscriptionCycle.objects.count()
        assert done < total_cycles, "the run finished before the worker could be killed"
        worker = start_worker(env)  # the unacknowledged task is delivered again
        wait(lambda: SubscriptionCycle.objects.count() == total_cycles, timeout=300)
        wait(lambda: not Invoice.objects.filter(status="draft").exists(), timeout=30)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=20)
    for index in range(customers):
        invoices = Invoice.objects.filter(customer__key=f"c{index}").order_by("cycle_at")
        assert [i.total for i in invoices] == expected_totals(index)
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert numbers == [f"INV-2026-{n:06d}" for n in range(1, total_cycles + 1)]
