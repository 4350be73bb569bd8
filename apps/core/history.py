from django.core.exceptions import PermissionDenied
from simple_history.admin import SimpleHistoryAdmin


def history_user(instance=None, request=None, **kwargs):
    """The staff user behind a change; API-key requests have none (the audit row says so)."""
    user = getattr(request, "user", None) if request is not None else None
    if user is None or not getattr(user, "_meta", None):
        return None
    return user if user.is_authenticated else None


class GuardedHistoryAdmin(SimpleHistoryAdmin):
    """simple_history saves a POSTed old version (a revert) after checking view rights only;
    here only someone who may change the object may revert it."""

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method == "POST" and not self.has_change_permission(
                request, self.get_object(request, object_id)):
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)
