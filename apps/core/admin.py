from django.contrib import admin, messages
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from unfold.admin import ModelAdmin
from unfold.decorators import action, display

from apps.core import admin_theme, services  # noqa: F401  (admin_theme registers)
from apps.core.models import ApiKey, Heartbeat


@admin.register(ApiKey)
class ApiKeyAdmin(ModelAdmin):
    list_display = ["name", "prefix", "status", "created_at", "created_by", "last_used_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix"]
    fields = ["name", "prefix", "created_at", "created_by", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "created_by", "last_used_at", "revoked_at"]
    actions = ["revoke_selected"]
    actions_detail = ["revoke_detail"]

    @display(description="Status", label={"active": "success", "revoked": "danger"})
    def status(self, obj):
        return "active" if obj.is_active else "revoked"

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["name"])
            return
        api_key, raw_key = services.api_key_create(name=obj.name, created_by=request.user)
        obj.pk, obj.prefix = api_key.pk, api_key.prefix
        obj.refresh_from_db()
        messages.warning(
            request,
            f"New API key “{api_key.name}”: {raw_key} — copy it now, it will not be shown again.",
        )

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead, so the key's history stays visible

    @admin.action(description="Revoke selected API keys")
    def revoke_selected(self, request, queryset):
        for api_key in queryset:
            services.api_key_revoke(api_key=api_key)
        self.message_user(request, f"Revoked {queryset.count()} API key(s).")

    @action(description="Revoke", url_path="revoke")
    def revoke_detail(self, request, object_id):
        from django.shortcuts import redirect

        api_key = ApiKey.objects.get(pk=object_id)
        services.api_key_revoke(api_key=api_key)
        self.message_user(request, f"Revoked {api_key}.")
        return redirect("admin:core_apikey_change", object_id)


@admin.register(Heartbeat)
class HeartbeatAdmin(ModelAdmin):
    list_display = ["name", "health", "last_run_at", "worker_hostname", "runs", "beat_last_sent"]
    readonly_fields = ["name", "last_run_at", "worker_hostname", "runs"]

    @display(description="Health", label={"alive": "success", "stale": "danger"})
    def health(self, obj):
        return "alive" if obj.is_fresh() else "stale"

    @display(description="Beat last sent")
    def beat_last_sent(self, obj):
        task = PeriodicTask.objects.filter(task="apps.core.tasks.heartbeat").first()
        return task.last_run_at if task and task.last_run_at else "—"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def heartbeat_status(now=None) -> dict:
    now = now or timezone.now()
    beat = Heartbeat.objects.filter(name="celery").first()
    return {
        "alive": bool(beat and beat.is_fresh(now)),
        "last_run_at": beat.last_run_at if beat else None,
        "worker_hostname": beat.worker_hostname if beat else "",
        "runs": beat.runs if beat else 0,
    }
