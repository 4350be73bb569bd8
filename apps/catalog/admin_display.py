"""What the catalog admin pages show: price sheets, version diffs and merged change history.

Read-only helpers: they turn plan and add-on versions (and their historical rows) into plain
rows for templates.
"""

import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.utils import timezone
from django.utils.formats import date_format

from apps.catalog.models import Addon, Feature, Plan, PlanAddon, PlanPhase, RateCard, Versioned

ABSENT = "—"
HIDDEN_HISTORY_FIELDS = ["created_at", "updated_at"]


def number(value) -> str:
    """An exact decimal with thousands separators and no exponent: 1,000 and 0.000002."""
    if value is None or value == "":
        return ""
    try:
        return format(Decimal(str(value)).normalize(), ",f")
    except InvalidOperation:
        return str(value)


def when(value) -> str:
    return date_format(timezone.localtime(value), "DATETIME_FORMAT") if value else ABSENT


def compact_json(value) -> str:
    return ABSENT if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def tier_lines(card: RateCard, currency: str) -> list[str]:
    """ "0 – 1,000: 0 USD per unit" and so on; each tier starts where the previous one ends."""
    lines, start = [], "0"
    for row in card.tiers or []:
        up_to = row.get("upToAmount")
        span = f"{number(start)} – {number(up_to)}" if up_to not in (None, "") \
            else f"above {number(start)}"
        prices = []
        if row.get("unitPrice") not in (None, ""):
            prices.append(f"{number(row['unitPrice'])} {currency} per unit")
        if row.get("flatPrice") not in (None, ""):
            prices.append(f"{number(row['flatPrice'])} {currency} flat")
        lines.append(f"{span}: {' + '.join(prices) or 'no price'}")
        start = up_to
    return lines


def price_summary(card: RateCard, currency: str) -> str:
    amount = f"{number(card.price_amount)} {currency}"
    match card.price_type:
        case RateCard.PriceType.FLAT:
            return f"{amount} flat, {card.get_payment_term_display()}"
        case RateCard.PriceType.UNIT:
            return f"{amount} per unit"
        case RateCard.PriceType.PACKAGE:
            return f"{amount} per started package of {number(card.quantity_per_package)}"
        case RateCard.PriceType.TIERED:
            return (f"{card.get_tiered_mode_display().capitalize()} tiers: "
                    + "; ".join(tier_lines(card, currency)))
    return "No price (free)"


def rate_card_terms(card: RateCard, currency: str) -> dict[str, str]:
    """Every priced term of a rate card as label → text ("" when not set)."""
    def money(value):
        return f"{number(value)} {currency}" if value is not None else ""

    return {
        "Name": card.name,
        "Type": card.get_type_display(),
        "Feature": card.feature.key if card.feature_id else "",
        "Billing cadence": card.billing_cadence or ("one-time" if card.type == "flat_fee"
                                                    else ""),
        "Price": price_summary(card, currency),
        "Minimum": money(card.minimum_amount),
        "Maximum": money(card.maximum_amount),
        "Percentage discount": f"{number(card.discount_percentage)} %"
        if card.discount_percentage is not None else "",
        "Free units": number(card.discount_usage_quantity),
        "Entitlement": compact_json(card.entitlement_template)
        if card.entitlement_template is not None else "",
        "Tax": compact_json(card.tax_config) if card.tax_config is not None else "",
    }


# --- price sheet ----------------------------------------------------------------------------


@dataclass
class SheetCard:
    card: RateCard
    cadence: str
    price: str
    terms: dict[str, str]  # the other terms that are set


@dataclass
class SheetPhase:
    key: str
    name: str
    duration: str
    cards: list[SheetCard] = field(default_factory=list)


def price_sheet(version: Versioned) -> list[SheetPhase]:
    """The version's rate cards by phase (add-ons: one unnamed group), as a price sheet."""
    cards = list(version.rate_cards.select_related("feature").order_by("position", "id"))
    if isinstance(version, Plan):
        groups = [SheetPhase(p.key, p.name, p.duration or "open-ended")
                  for p in version.phases.all()]
    else:
        groups = [SheetPhase("", "", "")]
    by_key = {group.key: group for group in groups}
    for card in cards:
        group = by_key.get(card.phase_key if isinstance(version, Plan) else "")
        if group is None:  # a rate card naming a phase that is gone; show it anyway
            group = by_key[card.phase_key] = SheetPhase(card.phase_key, card.phase_key,
                                                        "(no such phase)")
            groups.append(group)
        terms = rate_card_terms(card, version.currency)
        extras = {label: text for label, text in terms.items() if text and label not in (
            "Name", "Type", "Feature", "Billing cadence", "Price")}
        group.cards.append(SheetCard(card, terms["Billing cadence"], terms["Price"], extras))
    return groups


# --- diff of two versions -------------------------------------------------------------------


@dataclass
class DiffRow:
    label: str
    left: str
    right: str

    @property
    def changed(self) -> bool:
        return self.left != self.right


@dataclass
class DiffSection:
    title: str
    rows: list[DiffRow]

    @property
    def changed(self) -> bool:
        return any(row.changed for row in self.rows)


def version_diff(left: Versioned, right: Versioned) -> list[DiffSection]:
    def text(value):
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, Decimal):
            return number(value)
        return ABSENT if value in (None, "") else str(value)

    is_plan = isinstance(left, Plan)
    fields = ["name", "description", "currency"]
    fields += ["billing_cadence", "pro_rating_enabled", "minimum_spend"] if is_plan \
        else ["instances"]
    sections = [
        DiffSection("Version", [
            DiffRow("Status", left.status.label, right.status.label),
            DiffRow("Effective from", when(left.effective_from), when(right.effective_from)),
            DiffRow("Effective to", when(left.effective_to), when(right.effective_to)),
        ]),
        DiffSection("Plan" if is_plan else "Add-on", [
            DiffRow(type(left)._meta.get_field(name).verbose_name.capitalize(),
                    text(getattr(left, name)), text(getattr(right, name)))
            for name in fields]),
    ]
    if is_plan:
        def phase_text(phase):
            if phase is None:
                return ABSENT
            return f"{phase.name} — {phase.duration or 'open-ended'}"

        phases = [{p.key: p for p in version.phases.all()} for version in (left, right)]
        keys = list(dict.fromkeys([*phases[0], *phases[1]]))
        sections.append(DiffSection("Phases", [
            DiffRow(key, phase_text(phases[0].get(key)), phase_text(phases[1].get(key)))
            for key in keys]))
    cards = [{(c.phase_key, c.key): c for c in version.rate_cards.select_related("feature")
              .order_by("position", "id")} for version in (left, right)]
    for scope in dict.fromkeys([*cards[0], *cards[1]]):
        phase_key, key = scope
        terms = [rate_card_terms(c[scope], v.currency) if scope in c else {}
                 for c, v in zip(cards, (left, right), strict=True)]
        labels = [label for label in (terms[0] or terms[1])
                  if label == "Price" or terms[0].get(label) or terms[1].get(label)]
        title = f"Rate card “{key}”" + (f" in phase “{phase_key}”" if is_plan else "")
        sections.append(DiffSection(title, [
            DiffRow(label, terms[0].get(label) or ABSENT, terms[1].get(label) or ABSENT)
            for label in labels]))
    return sections


# --- change history -------------------------------------------------------------------------


@dataclass
class HistoryEntry:
    at: object  # datetime
    user: object  # the staff user, or None for API and system changes
    subject: str
    action: str
    changes: list[tuple[str, str, str]]
    reason: str = ""


def version_history(version: Versioned) -> list[HistoryEntry]:
    """The version's own history merged with that of its phases, rate cards and add-ons."""
    if isinstance(version, Plan):
        sources = [
            (Plan.history.filter(id=version.pk), lambda r: f"Plan v{r.version}"),
            (PlanPhase.history.filter(plan_id=version.pk), lambda r: f"Phase “{r.key}”"),
            (RateCard.history.filter(plan_id=version.pk),
             lambda r: f"Rate card “{r.key}” (phase “{r.phase_key}”)"),
            (PlanAddon.history.filter(plan_id=version.pk),
             lambda r: f"Allowed add-on {_addon_name(r.addon_id)}"),
        ]
    else:
        sources = [
            (Addon.history.filter(id=version.pk), lambda r: f"Add-on v{r.version}"),
            (RateCard.history.filter(addon_id=version.pk), lambda r: f"Rate card “{r.key}”"),
        ]
    entries = []
    for queryset, describe in sources:
        previous = {}
        for record in queryset.select_related("history_user").order_by("history_date",
                                                                         "history_id"):
            before = previous.get(record.id)
            previous[record.id] = record
            changes = []
            if record.history_type == "~" and before is not None:
                delta = record.diff_against(before, excluded_fields=HIDDEN_HISTORY_FIELDS)
                changes = [(_label(record, c.field), _value(record, c.field, c.old),
                            _value(record, c.field, c.new)) for c in delta.changes]
                if not changes:
                    continue  # saved without a change
            entries.append(HistoryEntry(
                at=record.history_date, user=record.history_user, subject=describe(record),
                action={"+": "created", "~": "changed", "-": "deleted"}[record.history_type],
                changes=changes, reason=record.history_change_reason or ""))
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return entries


def _label(record, name: str) -> str:
    return str(record.instance_type._meta.get_field(name).verbose_name).capitalize()


def _value(record, name: str, value) -> str:
    if value is None or value == "":
        return ABSENT
    model_field = record.instance_type._meta.get_field(name)
    if name == "feature":
        feature = Feature.objects.filter(pk=value).first()
        return feature.key if feature else str(value)
    if name == "addon":
        return _addon_name(value)
    if model_field.get_internal_type() == "JSONField":
        return compact_json(value)
    if model_field.choices:
        return str(dict(model_field.flatchoices).get(value, value))
    if hasattr(value, "isoformat"):
        return when(value)
    if isinstance(value, Decimal):
        return number(value)
    return str(value)


def _addon_name(addon_id) -> str:
    addon = Addon.objects.filter(pk=addon_id).first()
    return str(addon) if addon else str(addon_id)
