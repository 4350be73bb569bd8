from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Operations"

    def ready(self):
        from apps.core import schema  # noqa: F401  (registers the OpenAPI auth scheme)
        from apps.core.roles import grant_role_permissions

        # Runs after every app's migrations, so models added by later apps get their
        # role permissions without a new data migration each time.
        post_migrate.connect(grant_role_permissions, dispatch_uid="meterline-role-permissions")
