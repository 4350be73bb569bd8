"""The demo world: customers of "Nimbus AI", an LLM API provider. Idempotent by key."""

from django.db import transaction

from apps.customers.models import Customer, GatewayConsumer

# key, name, currency, email, country, city, time zone, consumers (key suffixes)
CUSTOMERS = [
    ("acme", "Acme Corporation", "USD", "billing@acme.example", "US", "New York",
     "America/New_York", ["web", "mobile", "batch"]),
    ("globex", "Globex Inc.", "USD", "ap@globex.example", "US", "Springfield",
     "America/Chicago", ["chatbot", "search"]),
    ("initech", "Initech", "USD", "finance@initech.example", "US", "Austin",
     "America/Chicago", ["tps-reports", "support-bot"]),
    ("umbrella", "Umbrella Health", "USD", "billing@umbrella.example", "US", "Raccoon City",
     "America/Denver", ["triage", "summaries", "coding"]),
    ("stark", "Stark Industries", "USD", "accounts@stark.example", "US", "Malibu",
     "America/Los_Angeles", ["jarvis", "rnd"]),
    ("hooli", "Hooli", "USD", "ap@hooli.example", "US", "Palo Alto",
     "America/Los_Angeles", ["nucleus", "xyz"]),
    ("wayne", "Wayne Enterprises", "USD", "finance@wayne.example", "US", "Gotham",
     "America/New_York", ["research", "security"]),
    ("soylent", "Soylent Foods GmbH", "EUR", "buchhaltung@soylent.example", "DE", "Berlin",
     "Europe/Berlin", ["recipes", "support"]),
    ("tyrell", "Tyrell Systems B.V.", "EUR", "finance@tyrell.example", "NL", "Amsterdam",
     "Europe/Amsterdam", ["replicant-qa", "vision"]),
    ("duff", "Duff Analytics SAS", "EUR", "compta@duff.example", "FR", "Paris",
     "Europe/Paris", ["dashboards", "forecast"]),
]
PARENT = ("massive", "Massive Dynamic Group", "EUR", "group-finance@massive.example", "IE",
          "Dublin", "Europe/Dublin", ["group-portal"])
SUBSIDIARIES = [
    ("massive-labs", "Massive Dynamic Labs", "EUR", "labs@massive.example", "IE", "Cork",
     "Europe/Dublin", ["lab-agents", "lab-eval"]),
    ("massive-retail", "Massive Dynamic Retail", "EUR", "retail@massive.example", "ES",
     "Madrid", "Europe/Madrid", ["shop-assistant", "recommendations"]),
]


def _upsert(row, parent=None, bill_to_parent=False) -> Customer:
    key, name, currency, email, country, city, tz, consumers = row
    customer, _ = Customer.objects.live().update_or_create(
        key=key,
        defaults={
            "name": name, "currency": currency, "primary_email": email,
            "address_country": country, "address_city": city, "address_line1": "1 Demo Street",
            "address_postal_code": "10001", "time_zone": tz, "parent": parent,
            "bill_to_parent": bill_to_parent, "metadata": {"segment": "demo"},
        },
    )
    for suffix in consumers:
        GatewayConsumer.objects.update_or_create(
            key=f"{key}-{suffix}",
            defaults={"customer": customer, "display_name": f"{name} · {suffix}"},
        )
    return customer


@transaction.atomic
def seed_customers() -> list[Customer]:
    customers = [_upsert(row) for row in CUSTOMERS]
    parent = _upsert(PARENT)
    customers.append(parent)
    customers += [_upsert(row, parent=parent, bill_to_parent=True) for row in SUBSIDIARIES]
    # A subject that reached the gateway before anyone claimed it.
    GatewayConsumer.objects.get_or_create(
        key="trial-7f3a", defaults={"display_name": "Unknown trial key", "auto_registered": True}
    )
    return customers
