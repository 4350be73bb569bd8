"""Form widgets of the catalog admin: money inputs that show their currency, the tier table."""

import json
from itertools import zip_longest

from django import forms
from django.core.exceptions import ValidationError
from unfold.widgets import BASE_INPUT_CLASSES, UnfoldAdminTextInputWidget

# Tier keys as stored on RateCard.tiers (OpenMeter's spelling) and the suffix of their inputs.
TIER_COLUMNS = (("upToAmount", "up_to"), ("unitPrice", "unit_price"), ("flatPrice", "flat_price"))

CATALOG_MEDIA = forms.Media(js=["catalog/catalog_admin.js"], css={"all": ["catalog/catalog.css"]})


class MoneyInput(UnfoldAdminTextInputWidget):
    """A decimal input with the currency written beside it.

    The currency is the plan's (or add-on's); on the add page catalog_admin.js keeps the label
    in step with the currency being typed.
    """

    template_name = "catalog/widgets/money.html"

    def __init__(self, attrs=None, currency: str = ""):
        super().__init__(attrs={"inputmode": "decimal", "autocomplete": "off", **(attrs or {})})
        self.currency = currency

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["widget"]["currency"] = self.currency
        return context

    @property
    def media(self):
        return CATALOG_MEDIA


class TierTableWidget(forms.Widget):
    """One table row per tier: up to (empty = open-ended), unit price, flat price.

    Each cell posts as its own input (`<name>-up_to`, `<name>-unit_price`, `<name>-flat_price`,
    repeated per row), so the value needs no script to reach the server; the script only adds
    and removes rows. A client may also post the JSON list itself as `<name>`.
    """

    template_name = "catalog/widgets/tier_table.html"

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.currency = ""
        self.error_row: int | None = None  # 0-based row the validation error is about

    @property
    def media(self):
        return CATALOG_MEDIA

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        try:
            rows = tier_rows(value)
        except ValidationError:
            rows = []
        cells = [["" if row.get(key) is None else str(row[key]) for key, _ in TIER_COLUMNS]
                 for row in rows]
        cells = cells or [["", "", ""]]
        # A tier starts where the previous one ends: the "from" column is derived, never typed.
        starts = ["0", *(up_to or "…" for up_to, _, _ in cells[:-1])]
        context["widget"].update(
            rows=[{"number": index + 1, "start": start, "up_to": up_to, "unit_price": unit,
                   "flat_price": flat, "has_error": index == self.error_row}
                  for index, ((up_to, unit, flat), start) in enumerate(zip(cells, starts,
                                                                            strict=True))],
            inputs={suffix: f"{name}-{suffix}" for _, suffix in TIER_COLUMNS},
            currency=self.currency,
            # Only the row in error turns red (catalog.css), not every cell of the table.
            input_class=" ".join(c for c in BASE_INPUT_CLASSES if "[.errors]" not in c),
        )
        return context

    def value_from_datadict(self, data, files, name):
        names = [f"{name}-{suffix}" for _, suffix in TIER_COLUMNS]
        if not any(cell in data for cell in names):
            return data.get(name)
        columns = [data.getlist(cell) if hasattr(data, "getlist") else _as_list(data.get(cell))
                   for cell in names]
        rows = []
        for values in zip_longest(*columns, fillvalue=""):
            row = {key: (value or "").strip() or None
                   for (key, _), value in zip(TIER_COLUMNS, values, strict=True)}
            if any(row.values()):  # a row left blank is not a tier
                rows.append(row)
        return rows

    def value_omitted_from_data(self, data, files, name):
        return name not in data and not any(
            f"{name}-{suffix}" in data for _, suffix in TIER_COLUMNS)


class TierTableField(forms.Field):
    """The tiers of a rate card as the model stores them: a list of rows of decimal strings."""

    widget = TierTableWidget
    default_error_messages = {
        "invalid": "Enter the tiers as rows of up to, unit price and flat price.",
    }

    def to_python(self, value):
        try:
            return tier_rows(value)
        except ValidationError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None

    def has_changed(self, initial, data):
        try:
            return tier_rows(initial) != self.to_python(data)
        except ValidationError:
            return True


def tier_rows(value) -> list[dict]:
    """Rows with exactly the three tier keys; empty cells become None.

    Values stay as given otherwise (a JSON number stays a number): whether each is a decimal
    is for `apps.catalog.prices.tiers_of` to say, with the row it is in.
    """
    if value in (None, ""):
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValidationError("invalid") from None
    if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
        raise ValidationError("invalid")
    rows = []
    for row in value:
        cells = {}
        for key, _ in TIER_COLUMNS:
            cell = row.get(key)
            if isinstance(cell, str):
                cell = cell.strip() or None
            cells[key] = cell
        rows.append(cells)
    return rows


def _as_list(value) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]
