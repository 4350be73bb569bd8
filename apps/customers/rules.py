"""Attribution and hierarchy rules, shared by the admin forms and the services."""

from apps.customers.models import Customer, GatewayConsumer


def ownership_conflict(key: str, *, customer_id: str | None, consumer_id=None) -> str | None:
    """Why ``key`` cannot be this customer's key or subject, if it cannot.

    An event's subject is attributed through a consumer or a customer key, so one string may
    be only one customer's, whichever of the two it is.
    """
    owner = (
        GatewayConsumer.objects.filter(key=key, customer__isnull=False)
        .exclude(customer_id=customer_id)
        .exclude(pk=consumer_id)
        .select_related("customer")
        .first()
    )
    if owner:
        return f"“{key}” is already a subject of customer “{owner.customer.name}”."
    clash = Customer.objects.live().filter(key=key).exclude(pk=customer_id).first()
    if clash:
        return f"“{key}” is already the key of customer “{clash.name}”."
    return None


def hierarchy_errors(customer: Customer) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    parent = customer.parent
    if parent is None:
        if customer.bill_to_parent:
            errors["bill_to_parent"] = ["Only a subsidiary (a customer with a parent) can be "
                                        "billed to its parent."]
        return errors
    if parent.pk == customer.pk:
        errors["parent"] = ["A customer cannot be its own parent."]
    elif parent.parent_id is not None:
        errors["parent"] = [f"“{parent.name}” is itself a subsidiary; parents must be "
                            "top-level customers."]
    elif not customer._state.adding and customer.subsidiaries.exists():
        errors["parent"] = ["A customer with subsidiaries cannot become a subsidiary."]
    elif parent.is_deleted:
        errors["parent"] = ["The parent customer is deleted."]
    if customer.bill_to_parent and parent.currency != customer.currency:
        errors.setdefault("bill_to_parent", []).append(
            f"Consolidated billing needs one currency: the parent bills in {parent.currency}."
        )
    return errors
