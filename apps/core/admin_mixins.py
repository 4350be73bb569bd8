class ReadOnlyAdminMixin:
    """Records the system writes (events, billing cycles, webhook log, invoice lines): staff
    with view rights read them; nobody adds, edits or deletes them in the admin."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
