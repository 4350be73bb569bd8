from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.catalog import selectors, services, simulation
from apps.catalog.api import serializers as wire
from apps.catalog.api.presenters import simulation_representation
from apps.catalog.models import Addon, Feature, Plan, Status
from apps.core.errors import InvalidInput, NotFound
from apps.core.pagination import PageQuerySerializer, page_of
from apps.customers.selectors import customer_get
from apps.metering.selectors import meter_get

# --- features ------------------------------------------------------------------------------


class FeatureListQuerySerializer(serializers.Serializer):
    meterSlug = serializers.ListField(child=serializers.CharField(), required=False)
    includeArchived = serializers.BooleanField(required=False, default=False)
    page = serializers.IntegerField(required=False, min_value=1)
    pageSize = serializers.IntegerField(required=False, min_value=1, max_value=1000)


class FeatureListView(APIView):
    @extend_schema(parameters=[FeatureListQuerySerializer],
                   responses=wire.FeatureOutputSerializer(many=True),
                   operation_id="listFeatures")
    def get(self, request):
        params = request.query_params
        query = FeatureListQuerySerializer(data={**params.dict(),
                                                 "meterSlug": params.getlist("meterSlug")})
        query.is_valid(raise_exception=True)
        values = query.validated_data
        features = Feature.objects.select_related("meter").order_by("key", "created_at")
        if not values["includeArchived"]:
            features = features.filter(archived_at__isnull=True)
        if values.get("meterSlug"):
            features = features.filter(meter__slug__in=values["meterSlug"])
        if "page" not in values and "pageSize" not in values:
            return Response(wire.FeatureOutputSerializer(features, many=True).data)
        page = page_of(features, page=values.get("page", 1),
                       page_size=values.get("pageSize", 100))
        page["items"] = wire.FeatureOutputSerializer(page["items"], many=True).data
        return Response(page)

    @extend_schema(request=wire.FeatureInputSerializer,
                   responses={201: wire.FeatureOutputSerializer}, operation_id="createFeature")
    def post(self, request):
        payload = wire.FeatureInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        meter = None
        if data.get("meterSlug"):
            try:
                meter = meter_get(data["meterSlug"])
            except NotFound as error:
                raise InvalidInput(error.detail, field="meterSlug") from error
        feature = services.feature_create(key=data["key"], name=data["name"], meter=meter,
                                          filters=data.get("meterGroupByFilters") or {},
                                          metadata=data.get("metadata") or {})
        return Response(wire.FeatureOutputSerializer(feature).data,
                        status=status.HTTP_201_CREATED)


class FeatureDetailView(APIView):
    @extend_schema(responses=wire.FeatureOutputSerializer, operation_id="getFeature")
    def get(self, request, id_or_key):
        return Response(wire.FeatureOutputSerializer(selectors.feature_get(id_or_key)).data)

    @extend_schema(responses={204: None}, operation_id="deleteFeature")
    def delete(self, request, id_or_key):
        services.feature_archive(feature=selectors.feature_get(id_or_key))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- plans and add-ons ---------------------------------------------------------------------


class VersionListQuerySerializer(PageQuerySerializer):
    id = serializers.ListField(child=serializers.CharField(), required=False)
    key = serializers.ListField(child=serializers.CharField(), required=False)
    status = serializers.ListField(child=serializers.ChoiceField(choices=Status.values),
                                   required=False)
    currency = serializers.ListField(child=serializers.CharField(), required=False)
    includeDeleted = serializers.BooleanField(required=False, default=False)
    orderBy = serializers.ChoiceField(choices=["key", "version", "createdAt", "updatedAt"],
                                      required=False, default="key")


ORDER_BY = {"key": ("key", "version"), "version": ("version",), "createdAt": ("created_at",),
            "updatedAt": ("updated_at",)}


class VersionApi:
    """What differs between plans and add-ons; the views below are shared."""

    model: type = Plan
    input_serializer: type = wire.PlanInputSerializer

    @classmethod
    def represent(cls, instance) -> dict:
        return (wire.plan_representation(instance) if cls.model is Plan
                else wire.addon_representation(instance))

    @classmethod
    def data_from(cls, request) -> object:
        payload = cls.input_serializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        card_lists = ([phase["rateCards"] for phase in data["phases"]] if cls.model is Plan
                      else [data["rateCards"]])
        features = _features_for(card_lists, prefix="phases" if cls.model is Plan else None)

        def cards(items):
            return [services.RateCardData(wire.rate_card_values(item, features))
                    for item in items]

        common = {"key": data["key"], "name": data["name"],
                  "description": data.get("description") or "",
                  "metadata": data.get("metadata") or {}, "currency": data["currency"]}
        if cls.model is Addon:
            return services.AddonData(**common, instances=data["instanceType"],
                                      rate_cards=cards(data["rateCards"]))
        return services.PlanData(
            **common, billing_cadence=data["billingCadence"],
            pro_rating_enabled=(data.get("proRatingConfig") or {}).get("enabled", True),
            minimum_spend=data.get("minimumSpend"),
            phases=[services.PhaseData(key=p["key"], name=p["name"],
                                       description=p.get("description") or "",
                                       duration=p.get("duration") or "",
                                       metadata=p.get("metadata") or {},
                                       rate_cards=cards(p["rateCards"]))
                    for p in data["phases"]],
        )

    @classmethod
    def get(cls, ref, *, prefer=Status.ACTIVE):
        return selectors.version_get(cls.model, ref, prefer=prefer)

    @classmethod
    def fresh(cls, instance) -> dict:
        return cls.represent(selectors.version_get(cls.model, instance.pk,
                                                   include_deleted=True))


def _features_for(card_lists, *, prefix) -> dict:
    keys = {card.get("featureKey") for cards in card_lists for card in cards} - {None, ""}
    found = selectors.features_by_key(keys)
    for index, cards in enumerate(card_lists):
        for position, card in enumerate(cards):
            if card.get("featureKey") and card["featureKey"] not in found:
                where = (f"phases.{index}.rateCards.{position}" if prefix
                         else f"rateCards.{position}")
                raise InvalidInput(f"Unknown feature “{card['featureKey']}”.",
                                   field=f"{where}.featureKey")
    return found


class PlanApi(VersionApi):
    model = Plan
    input_serializer = wire.PlanInputSerializer


class AddonApi(VersionApi):
    model = Addon
    input_serializer = wire.AddonInputSerializer


class VersionListView(APIView):
    api = PlanApi

    def get(self, request):
        params = request.query_params
        query = VersionListQuerySerializer(data={
            **params.dict(), **{name: params.getlist(name)
                                for name in ("id", "key", "status", "currency")}})
        query.is_valid(raise_exception=True)
        values = query.validated_data
        items = selectors.versions(self.api.model)
        if not values["includeDeleted"]:
            items = items.filter(deleted_at__isnull=True)
        for name in ("id", "key", "currency"):
            if values.get(name):
                items = items.filter(**{f"{name}__in": values[name]})
        if values.get("status"):
            matching = items.none()
            for wanted in values["status"]:
                matching |= items.with_status(wanted)
            items = matching
        fields = ORDER_BY[values["orderBy"]]
        items = items.order_by(*[f"-{f}" if values["order"] == "DESC" else f for f in fields],
                               "id")
        page = page_of(items, page=values["page"], page_size=values["pageSize"])
        page["items"] = [self.api.represent(item) for item in page["items"]]
        return Response(page)

    def post(self, request):
        data = self.api.data_from(request)
        create = services.plan_create if self.api.model is Plan else services.addon_create
        instance = create(data=data)
        return Response(self.api.fresh(instance), status=status.HTTP_201_CREATED)


class VersionDetailView(APIView):
    api = PlanApi

    def get(self, request, id_or_key):
        return Response(self.api.represent(self.api.get(id_or_key)))

    def put(self, request, id_or_key):
        instance = self.api.get(id_or_key, prefer=Status.DRAFT)
        data = self.api.data_from(request)
        replace = services.plan_replace if self.api.model is Plan else services.addon_replace
        replace(**{"plan" if self.api.model is Plan else "addon": instance, "data": data})
        return Response(self.api.fresh(instance))

    def delete(self, request, id_or_key):
        services.version_delete(self.api.get(id_or_key, prefer=Status.DRAFT))
        return Response(status=status.HTTP_204_NO_CONTENT)


class VersionNextView(APIView):
    api = PlanApi

    def post(self, request, id_or_key):
        instance = services.version_next(self.api.get(id_or_key, prefer="latest"))
        return Response(self.api.fresh(instance), status=status.HTTP_201_CREATED)


class VersionPublishView(APIView):
    api = PlanApi

    def post(self, request, id_or_key):
        body = wire.PublishSerializer(data=request.data or {})
        body.is_valid(raise_exception=True)
        instance = services.version_publish(
            self.api.get(id_or_key, prefer=Status.DRAFT),
            effective_from=body.validated_data.get("effectiveFrom"),
            effective_to=body.validated_data.get("effectiveTo"))
        return Response(self.api.fresh(instance))


class VersionArchiveView(APIView):
    api = PlanApi

    def post(self, request, id_or_key):
        body = wire.PublishSerializer(data=request.data or {})
        body.is_valid(raise_exception=True)
        instance = services.version_archive(self.api.get(id_or_key),
                                            at=body.validated_data.get("effectiveTo"))
        return Response(self.api.fresh(instance))


def version_views(api: type[VersionApi], noun: str) -> dict:
    """The five view classes for one versioned resource, with schema names."""
    views = {}
    for base, operations in (
        (VersionListView, {"get": f"list{noun}s", "post": f"create{noun}"}),
        (VersionDetailView, {"get": f"get{noun}", "put": f"update{noun}",
                             "delete": f"delete{noun}"}),
        (VersionNextView, {"post": f"next{noun}"}),
        (VersionPublishView, {"post": f"publish{noun}"}),
        (VersionArchiveView, {"post": f"archive{noun}"}),
    ):
        attrs = {"api": api}
        for method, operation_id in operations.items():
            body = (api.input_serializer if operation_id.startswith(("create", "update"))
                    else wire.PublishSerializer if operation_id.startswith(("publish",
                                                                            "archive"))
                    else None)
            # A fresh function per resource: extend_schema annotates the function it is given.
            attrs[method] = extend_schema(operation_id=operation_id, request=body,
                                          responses=OpenApiTypes.OBJECT)(
                _calling(getattr(base, method)))
        views[base.__name__] = type(f"{noun}{base.__name__}", (base,), attrs)
    return views


def _calling(method):
    def view_method(self, request, *args, **kwargs):
        return method(self, request, *args, **kwargs)
    return view_method


PLAN_VIEWS = version_views(PlanApi, "Plan")
ADDON_VIEWS = version_views(AddonApi, "Addon")


# --- plan add-ons --------------------------------------------------------------------------


class PlanAddonListView(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="listPlanAddons")
    def get(self, request, id_or_key):
        plan = PlanApi.get(id_or_key)
        links = plan.allowed_addons.select_related("addon").order_by("created_at")
        return Response([wire.plan_addon_representation(link) for link in links])

    @extend_schema(request=wire.PlanAddonInputSerializer, responses=OpenApiTypes.OBJECT,
                   operation_id="createPlanAddon")
    def post(self, request, id_or_key):
        return self._set(request, PlanApi.get(id_or_key, prefer=Status.DRAFT),
                         status.HTTP_201_CREATED)

    @staticmethod
    def _set(request, plan, code, addon=None):
        payload = wire.PlanAddonInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        if addon is None:
            try:
                addon = selectors.addon_of(data["addonId"])
            except NotFound as error:
                raise InvalidInput(error.detail, field="addonId") from error
        link = services.plan_addon_set(plan=plan, addon=addon,
                                       from_plan_phase=data["fromPlanPhase"],
                                       max_quantity=data.get("maxQuantity"),
                                       metadata=data.get("metadata"))
        return Response(wire.plan_addon_representation(link), status=code)


class PlanAddonDetailView(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="getPlanAddon")
    def get(self, request, id_or_key, link_id):
        link = selectors.plan_addon_get(PlanApi.get(id_or_key), link_id)
        return Response(wire.plan_addon_representation(link))

    @extend_schema(request=wire.PlanAddonInputSerializer, responses=OpenApiTypes.OBJECT,
                   operation_id="updatePlanAddon")
    def put(self, request, id_or_key, link_id):
        plan = PlanApi.get(id_or_key, prefer=Status.DRAFT)
        link = selectors.plan_addon_get(plan, link_id)
        return PlanAddonListView._set(request, plan, status.HTTP_200_OK, addon=link.addon)

    @extend_schema(responses={204: None}, operation_id="deletePlanAddon")
    def delete(self, request, id_or_key, link_id):
        plan = PlanApi.get(id_or_key, prefer=Status.DRAFT)
        services.plan_addon_remove(link=selectors.plan_addon_get(plan, link_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- simulation ----------------------------------------------------------------------------


class PlanSimulateView(APIView):
    @extend_schema(request=wire.SimulateInputSerializer, responses=OpenApiTypes.OBJECT,
                   operation_id="simulatePlan")
    def post(self, request, id_or_key):
        payload = wire.SimulateInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        plan = selectors.version_get(Plan, id_or_key, prefer="latest",
                                     version=data.get("version"))
        phase_key = data.get("phase")
        customer, start, end = None, data.get("from"), data.get("to")
        if "customerId" in data:
            try:
                customer = customer_get(data["customerId"])
            except NotFound as error:
                raise InvalidInput(error.detail, field="customerId") from error

        def run(version):
            usage = (data["usage"] if customer is None else simulation.customer_usage(
                version, phase_key=phase_key, customer=customer, start=start, end=end))
            return simulation.simulate(version, usage=usage, phase_key=phase_key)

        result = run(plan)
        if "compareVersion" in data:
            other = selectors.version_get(Plan, plan.key, version=data["compareVersion"])
        else:
            other = simulation.comparison_version(plan)
        comparison = None
        if other is not None:
            try:
                comparison = (run(other) if customer is not None else simulation.simulate(
                    other, phase_key=phase_key, usage={
                        k: v for k, v in data["usage"].items()
                        if k in simulation.priced_feature_keys(other, phase_key)}))
            except InvalidInput:
                comparison = None  # the other version has no such phase: nothing to compare
        return Response(simulation_representation(result, customer=customer, start=start,
                                                  end=end, comparison=comparison))
