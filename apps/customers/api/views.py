from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.errors import InvalidInput, NotFound
from apps.core.pagination import PageQuerySerializer, page_of
from apps.customers import selectors, services
from apps.customers.api.serializers import (
    ADDRESS_FIELDS,
    CustomerInputSerializer,
    CustomerListSerializer,
    CustomerOutputSerializer,
)

ORDER_BY = {"id": "id", "name": "name", "createdAt": "created_at"}


class CustomerListQuerySerializer(PageQuerySerializer):
    orderBy = serializers.ChoiceField(choices=list(ORDER_BY), required=False, default="name")
    includeDeleted = serializers.BooleanField(required=False, default=False)
    key = serializers.CharField(required=False)
    name = serializers.CharField(required=False)
    primaryEmail = serializers.CharField(required=False)
    subject = serializers.CharField(required=False)


def parent_from(id_or_key: str):
    try:
        return selectors.customer_get(id_or_key)
    except NotFound as exc:
        raise InvalidInput(exc.detail, field="parentCustomerId") from exc


def customer_data_from(validated: dict) -> services.CustomerData:
    address = validated.get("billingAddress") or {}
    parent_ref = validated.get("parentCustomerId")
    return services.CustomerData(
        name=validated["name"],
        key=validated.get("key"),
        description=validated.get("description") or "",
        currency=validated.get("currency"),
        primary_email=validated.get("primaryEmail") or "",
        tax_id=validated.get("taxId") or "",
        time_zone=validated.get("timezone") or "UTC",
        metadata=validated.get("metadata") or {},
        parent=parent_from(parent_ref) if parent_ref else None,
        bill_to_parent=validated.get("billToParent", False),
        subject_keys=(validated.get("usageAttribution") or {}).get("subjectKeys") or [],
        **{model: address.get(api) or "" for api, model in ADDRESS_FIELDS.items()},
    )


def render(customer) -> dict:
    return CustomerOutputSerializer(customer).data


class CustomerListView(APIView):
    @extend_schema(parameters=[CustomerListQuerySerializer],
                   responses=CustomerListSerializer, operation_id="listCustomers")
    def get(self, request):
        query = CustomerListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        customers = selectors.customers_with_subjects(include_deleted=params["includeDeleted"])
        if "key" in params:
            customers = customers.filter(key=params["key"])
        if "name" in params:
            customers = customers.filter(name__icontains=params["name"])
        if "primaryEmail" in params:
            customers = customers.filter(primary_email__iexact=params["primaryEmail"])
        if "subject" in params:
            customers = customers.filter(consumers__key=params["subject"])
        field = ORDER_BY[params["orderBy"]]
        customers = customers.order_by(f"-{field}" if params["order"] == "DESC" else field, "id")
        page = page_of(customers, page=params["page"], page_size=params["pageSize"])
        return Response(CustomerListSerializer(page).data)

    @extend_schema(request=CustomerInputSerializer, responses={201: CustomerOutputSerializer},
                   operation_id="createCustomer")
    def post(self, request):
        payload = CustomerInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        customer = services.customer_create(data=customer_data_from(payload.validated_data))
        return Response(render(selectors.customer_get(customer.pk)),
                        status=status.HTTP_201_CREATED)


class CustomerDetailView(APIView):
    @extend_schema(responses=CustomerOutputSerializer, operation_id="getCustomer")
    def get(self, request, id_or_key):
        return Response(render(selectors.customer_get(id_or_key)))

    @extend_schema(request=CustomerInputSerializer, responses=CustomerOutputSerializer,
                   operation_id="updateCustomer")
    def put(self, request, id_or_key):
        customer = selectors.customer_get(id_or_key)
        payload = CustomerInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.customer_replace(customer=customer,
                                  data=customer_data_from(payload.validated_data))
        return Response(render(selectors.customer_get(customer.pk)))

    @extend_schema(responses={204: None}, operation_id="deleteCustomer")
    def delete(self, request, id_or_key):
        services.customer_delete(customer=selectors.customer_get(id_or_key))
        return Response(status=status.HTTP_204_NO_CONTENT)
