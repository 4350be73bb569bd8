def history_user(instance=None, request=None, **kwargs):
    """The staff user behind a change; API-key requests have none (the audit row says so)."""
    user = getattr(request, "user", None) if request is not None else None
    if user is None or not getattr(user, "_meta", None):
        return None
    return user if user.is_authenticated else None
