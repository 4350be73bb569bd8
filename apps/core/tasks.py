from celery import shared_task

from apps.core import services


@shared_task(bind=True)
def heartbeat(self):
    """Scheduled by beat every HEARTBEAT_INTERVAL_SECONDS; its row shows both are alive."""
    services.heartbeat_record(name="celery", hostname=self.request.hostname or "")
