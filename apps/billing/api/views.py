from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.billing import engine, pdf, services, subscriptions
from apps.billing.api import serializers as wire
from apps.billing.models import Invoice, Subscription
from apps.catalog.models import Addon, Plan, Status
from apps.catalog.selectors import version_get
from apps.core.errors import InvalidInput, NotFound
from apps.core.pagination import PageQuerySerializer, page_of
from apps.core.times import rfc3339
from apps.customers.selectors import customer_get


def subscription_get(subscription_id: str) -> Subscription:
    found = Subscription.objects.select_related("plan", "customer__parent") \
        .filter(pk=subscription_id).first()
    if found is None:
        raise NotFound(f"Subscription “{subscription_id}” not found.")
    return found


def plan_of(ref: dict) -> Plan:
    """A plan key and optional version; default: the active version."""
    try:
        if ref.get("version"):
            return version_get(Plan, ref["key"], version=ref["version"])
        plan = Plan.objects.live().filter(key=ref["key"]).with_status(Status.ACTIVE).first()
        if plan is None:
            raise NotFound(f"Plan “{ref['key']}” has no active version.")
        return plan
    except NotFound as error:
        raise InvalidInput(error.detail, field="plan") from error


def customer_of(ref: str, field: str):
    try:
        return customer_get(ref)
    except NotFound as error:
        raise InvalidInput(error.detail, field=field) from error


def changed(current, following) -> dict:
    return {"current": wire.subscription_representation(current),
            "next": wire.subscription_representation(following)}


# --- subscriptions -------------------------------------------------------------------------


class SubscriptionListView(APIView):
    @extend_schema(request=wire.SubscriptionCreateSerializer, responses=OpenApiTypes.OBJECT,
                   operation_id="createSubscription")
    def post(self, request):
        payload = wire.SubscriptionCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        customer = (customer_of(data["customerId"], "customerId") if data.get("customerId")
                    else customer_of(data["customerKey"], "customerKey"))
        subscription = subscriptions.subscription_create(
            customer=customer, plan=plan_of(data["plan"]), timing=data["timing"],
            billing_anchor=data.get("billingAnchor"),
            starting_phase=data.get("startingPhase") or "", name=data.get("name") or "",
            description=data.get("description") or "", metadata=data.get("metadata"))
        return Response(wire.subscription_representation(subscription),
                        status=status.HTTP_201_CREATED)


class CustomerSubscriptionsView(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="listCustomerSubscriptions")
    def get(self, request, id_or_key):
        customer = customer_get(id_or_key)
        wanted = request.query_params.getlist("status")
        items = [wire.subscription_representation(s) for s in customer.subscriptions
                 .select_related("plan").prefetch_related("addons__addon")
                 .order_by("active_from")]
        return Response({"items": [s for s in items if not wanted or s["status"] in wanted]})


class SubscriptionDetailView(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="getSubscription")
    def get(self, request, subscription_id):
        return Response(wire.subscription_representation(subscription_get(subscription_id)))


class SubscriptionCancelView(APIView):
    @extend_schema(request=wire.CancelSerializer, responses=OpenApiTypes.OBJECT,
                   operation_id="cancelSubscription")
    def post(self, request, subscription_id):
        payload = wire.CancelSerializer(data=request.data or {})
        payload.is_valid(raise_exception=True)
        subscription = subscriptions.subscription_cancel(
            subscription_get(subscription_id), timing=payload.validated_data["timing"])
        return Response(wire.subscription_representation(subscription))


class SubscriptionChangeView(APIView):
    @extend_schema(request=wire.ChangeSerializer, responses=OpenApiTypes.OBJECT,
                   operation_id="changeSubscription")
    def post(self, request, subscription_id):
        payload = wire.ChangeSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        current, following = subscriptions.subscription_change(
            subscription_get(subscription_id), plan=plan_of(data["plan"]),
            timing=data["timing"])
        return Response(changed(current, following))


class SubscriptionMigrateView(APIView):
    @extend_schema(request=wire.MigrateSerializer, responses=OpenApiTypes.OBJECT,
                   operation_id="migrateSubscription")
    def post(self, request, subscription_id):
        payload = wire.MigrateSerializer(data=request.data or {})
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        current, following = subscriptions.subscription_migrate(
            subscription_get(subscription_id), target_version=data.get("targetVersion"),
            timing=data["timing"])
        return Response(changed(current, following))


class SubscriptionAddonsView(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="listSubscriptionAddons")
    def get(self, request, subscription_id):
        return Response(wire.subscription_representation(
            subscription_get(subscription_id))["addons"])

    @extend_schema(request=wire.SubscriptionAddonSerializer, responses=OpenApiTypes.OBJECT,
                   operation_id="createSubscriptionAddon")
    def post(self, request, subscription_id):
        payload = wire.SubscriptionAddonSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        addon = Addon.objects.live().filter(pk=data["addon"]["id"]).first() or \
            Addon.objects.live().filter(key=data["addon"]["id"]).first()
        if addon is None:
            raise InvalidInput(f"Add-on “{data['addon']['id']}” not found.", field="addon.id")
        subscription = subscription_get(subscription_id)
        subscriptions.subscription_addon_set(subscription, addon=addon,
                                             quantity=data["quantity"])
        return Response(wire.subscription_representation(subscription)["addons"],
                        status=status.HTTP_201_CREATED)


class SubscriptionAddonDetailView(APIView):
    @extend_schema(request=wire.QuantitySerializer, responses=OpenApiTypes.OBJECT,
                   operation_id="updateSubscriptionAddon")
    def patch(self, request, subscription_id, addon_id):
        subscription = subscription_get(subscription_id)
        bought = subscription.addons.select_related("addon").filter(pk=addon_id).first()
        if bought is None:
            raise NotFound(f"Subscription add-on “{addon_id}” not found.")
        payload = wire.QuantitySerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        subscriptions.subscription_addon_set(subscription, addon=bought.addon,
                                             quantity=payload.validated_data["quantity"])
        return Response(wire.subscription_representation(subscription)["addons"])


class UpcomingInvoiceView(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="getUpcomingInvoice")
    def get(self, request, subscription_id):
        """What the next cycle's invoice would hold with the usage measured so far."""
        subscription = subscription_get(subscription_id)
        now = timezone.now()
        piece = engine.running_piece(subscription, now)
        cycle_at = piece.period.end if piece else (
            subscription.active_from if subscription.active_from > now else None)
        if cycle_at is None:
            raise InvalidInput("The subscription has no billing cycle ahead.",
                               field="subscriptionId")
        payer = engine.billed_customer(subscription.customer)
        lines = [services.line_of(draft, subscription)
                 for draft in engine.lines_due(subscription, cycle_at)]
        preview = Invoice(customer=payer, currency=subscription.plan.currency,
                          tax_rate=services.terms_for(payer).tax_rate, cycle_at=cycle_at)
        totals = services.totals_of(preview, lines)
        return Response({
            "subscriptionId": subscription.id, "customerId": payer.pk,
            "currency": preview.currency, "invoiceAt": rfc3339(cycle_at),
            "lines": [wire.line_representation(line) for line in lines],
            "totals": {name: wire.money(value) for name, value in totals.items()},
        })


# --- invoices ------------------------------------------------------------------------------


class InvoiceListQuerySerializer(PageQuerySerializer):
    statuses = serializers.ListField(child=serializers.ChoiceField(Invoice.Status.values),
                                     required=False)
    customers = serializers.ListField(child=serializers.CharField(), required=False)
    issuedAfter = serializers.DateTimeField(required=False)
    issuedBefore = serializers.DateTimeField(required=False)
    periodStartAfter = serializers.DateTimeField(required=False)
    periodStartBefore = serializers.DateTimeField(required=False)
    expand = serializers.ListField(child=serializers.CharField(), required=False)
    orderBy = serializers.ChoiceField(["createdAt", "issuedAt", "periodStart"],
                                      required=False, default="createdAt")


INVOICE_ORDER = {"createdAt": "created_at", "issuedAt": "issued_at",
                 "periodStart": "period_start"}


class InvoiceListView(APIView):
    @extend_schema(parameters=[InvoiceListQuerySerializer], responses=OpenApiTypes.OBJECT,
                   operation_id="listInvoices")
    def get(self, request):
        params = request.query_params
        query = InvoiceListQuerySerializer(data={
            **params.dict(), **{n: params.getlist(n) for n in ("statuses", "customers",
                                                               "expand")}})
        query.is_valid(raise_exception=True)
        values = query.validated_data
        invoices = Invoice.objects.select_related("customer")
        if values.get("statuses"):
            invoices = invoices.filter(status__in=values["statuses"])
        if values.get("customers"):
            ids = [customer_of(ref, "customers").pk for ref in values["customers"]]
            invoices = invoices.filter(customer_id__in=ids)
        for name, lookup in (("issuedAfter", "issued_at__gte"),
                             ("issuedBefore", "issued_at__lt"),
                             ("periodStartAfter", "period_start__gte"),
                             ("periodStartBefore", "period_start__lt")):
            if name in values:
                invoices = invoices.filter(**{lookup: values[name]})
        field = INVOICE_ORDER[values["orderBy"]]
        invoices = invoices.order_by(f"-{field}" if values["order"] == "DESC" else field, "id")
        with_lines = "lines" in (values.get("expand") or [])
        if with_lines:
            invoices = invoices.prefetch_related("lines")
        page = page_of(invoices, page=values["page"], page_size=values["pageSize"])
        page["items"] = [wire.invoice_representation(i, with_lines=with_lines)
                         for i in page["items"]]
        return Response(page)


def invoice_get(invoice_id: str) -> Invoice:
    found = Invoice.objects.select_related("customer", "profile").filter(pk=invoice_id).first()
    if found is None:
        raise NotFound(f"Invoice “{invoice_id}” not found.")
    return found


class InvoiceDetailView(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="getInvoice")
    def get(self, request, invoice_id):
        return Response(wire.invoice_representation(invoice_get(invoice_id)))


class InvoiceNowView(APIView):
    @extend_schema(request=wire.InvoiceNowSerializer, responses=OpenApiTypes.OBJECT,
                   operation_id="invoicePendingLinesAction")
    def post(self, request):
        payload = wire.InvoiceNowSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        customer = customer_of(payload.validated_data["customerId"], "customerId")
        invoices = services.invoice_now(customer)
        return Response([wire.invoice_representation(invoice_get(i.pk)) for i in invoices],
                        status=status.HTTP_201_CREATED)


class InvoiceApproveView(APIView):
    @extend_schema(request=None, responses=OpenApiTypes.OBJECT, operation_id="approveInvoice")
    def post(self, request, invoice_id):
        invoice = services.invoice_approve(invoice_get(invoice_id))
        return Response(wire.invoice_representation(invoice_get(invoice.pk)))


class InvoiceVoidView(APIView):
    @extend_schema(request=wire.VoidSerializer, responses=OpenApiTypes.OBJECT,
                   operation_id="voidInvoice")
    def post(self, request, invoice_id):
        payload = wire.VoidSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        invoice = services.invoice_void(invoice_get(invoice_id),
                                        reason=payload.validated_data["reason"])
        return Response(wire.invoice_representation(invoice_get(invoice.pk)))


class InvoicePdfView(APIView):
    def perform_content_negotiation(self, request, force=False):
        # The answer is always a PDF; an `Accept: application/pdf` must not be a 406.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY},
                   operation_id="getInvoicePdf")
    def get(self, request, invoice_id):
        invoice = invoice_get(invoice_id)
        response = HttpResponse(pdf.pdf_of(invoice), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{invoice}.pdf"'
        return response
