from django.apps import AppConfig


class StripeSyncConfig(AppConfig):
    name = "apps.stripe_sync"
    verbose_name = "Stripe"

    def ready(self):
        from apps.stripe_sync import signals  # noqa: F401  connects the billing signals
