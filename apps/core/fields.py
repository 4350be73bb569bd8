from decimal import Decimal

from django.db import models


class ExactDecimalField(models.Field):
    """An unbounded exact decimal: ``numeric`` on PostgreSQL, text on SQLite.

    Django's DecimalField needs fixed digits, and SQLite's NUMERIC affinity would turn values
    into binary floats; usage values must survive storage digit for digit.
    """

    description = "Exact decimal of any size"

    def db_type(self, connection):
        return "numeric" if connection.vendor == "postgresql" else "text"

    def from_db_value(self, value, expression, connection):
        return None if value is None else Decimal(value if isinstance(value, str | Decimal)
                                                  else str(value))

    def to_python(self, value):
        if value is None or isinstance(value, Decimal):
            return value
        return Decimal(str(value))

    def get_db_prep_value(self, value, connection, prepared=False):
        value = self.to_python(value)
        if value is None:
            return None
        return value if connection.vendor == "postgresql" else str(value)
