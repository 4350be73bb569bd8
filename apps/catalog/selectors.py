from django.db.models import Prefetch, QuerySet

from apps.catalog.models import Addon, Feature, Plan, PlanAddon, RateCard, Status, Versioned
from apps.core.errors import NotFound

CARDS = Prefetch("rate_cards", queryset=RateCard.objects.select_related("feature"))


def feature_get(id_or_key: str) -> Feature:
    """By id, else the live feature with that key."""
    features = Feature.objects.select_related("meter")
    feature = (features.filter(pk=id_or_key).first()
               or features.filter(key=id_or_key, archived_at__isnull=True).first())
    if feature is None:
        raise NotFound(f"Feature “{id_or_key}” not found.")
    return feature


def features_by_key(keys) -> dict[str, Feature]:
    return {f.key: f for f in Feature.objects.filter(key__in=keys, archived_at__isnull=True)}


def versions(model: type[Versioned]) -> QuerySet:
    queryset = model.objects.prefetch_related(CARDS)
    return queryset.prefetch_related("phases") if model is Plan else queryset


def version_get(model: type[Versioned], id_or_key: str, *, prefer: str = Status.ACTIVE,
                version: int | None = None, include_deleted: bool = False) -> Versioned:
    """A version by id; by key, the `version` given, else the preferred status, else the
    latest one. `prefer="latest"` picks the highest version, draft included."""
    queryset = versions(model)
    if not include_deleted:
        queryset = queryset.filter(deleted_at__isnull=True)
    found = queryset.filter(pk=id_or_key).first()
    if found is None:
        by_key = queryset.filter(key=id_or_key).order_by("-version")
        if version is not None:
            found = by_key.filter(version=version).first()
        else:
            found = (prefer != "latest" and by_key.with_status(prefer).first()) or by_key.first()
    elif version is not None and found.version != version:
        found = versions(model).filter(key=found.key, version=version,
                                       deleted_at__isnull=True).first()
    if found is None:
        label = "Plan" if model is Plan else "Add-on"
        suffix = f" version {version}" if version is not None else ""
        raise NotFound(f"{label} “{id_or_key}”{suffix} not found.")
    return found


def plan_addon_get(plan: Plan, link_id: str) -> PlanAddon:
    link = plan.allowed_addons.select_related("addon").filter(pk=link_id if link_id.isdigit()
                                                              else None).first()
    if link is None:
        link = plan.allowed_addons.select_related("addon").filter(addon__key=link_id).first()
    if link is None:
        raise NotFound(f"Add-on “{link_id}” is not allowed on {plan}.")
    return link


def addon_of(ref: str) -> Addon:
    return version_get(Addon, ref)
