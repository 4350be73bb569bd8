"""Staff roles. Each group gets full rights on the apps it owns and read rights on the rest.

Apps that later issues add (metering, catalog, billing, stripe_sync, portal) are listed already:
their permissions are granted as soon as their migrations create them.
"""

from django.apps import apps as global_apps
from django.db import DEFAULT_DB_ALIAS

BUSINESS_APPS = {"customers", "metering", "catalog", "billing", "stripe_sync", "portal", "core"}

ROLES = {
    "Product": {"edit": {"metering", "catalog"}, "view": BUSINESS_APPS},
    "Finance": {"edit": {"customers", "billing", "stripe_sync"}, "view": BUSINESS_APPS},
    "Support": {"edit": set(), "view": BUSINESS_APPS},
}

# Operator-only models: API keys are credentials, not business data.
RESTRICTED_MODELS = {("core", "apikey")}


def role_permission_codenames(role: str, app_label: str, model_name: str) -> set[str]:
    if (app_label, model_name) in RESTRICTED_MODELS:
        return set()
    rule = ROLES[role]
    audit_trail = model_name.startswith("historical")
    if app_label in rule["edit"] and not audit_trail:
        return {f"{action}_{model_name}" for action in ("add", "change", "delete", "view")}
    if app_label in rule["view"]:
        return {f"view_{model_name}"}
    return set()


def grant_role_permissions(sender=None, apps=global_apps, using=DEFAULT_DB_ALIAS, **kwargs):
    """Add (never remove) each role's permissions; safe to run any number of times."""
    try:
        group_model = apps.get_model("auth", "Group")
        permission_model = apps.get_model("auth", "Permission")
    except LookupError:
        return
    permissions = permission_model.objects.using(using).select_related("content_type").filter(
        content_type__app_label__in=BUSINESS_APPS
    )
    for role in ROLES:
        group, _ = group_model.objects.using(using).get_or_create(name=role)
        wanted = [
            permission
            for permission in permissions
            if permission.codename
            in role_permission_codenames(
                role, permission.content_type.app_label, permission.content_type.model
            )
        ]
        group.permissions.add(*wanted)
