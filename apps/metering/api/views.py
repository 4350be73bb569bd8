import csv
import io
from datetime import datetime, timedelta
from decimal import Decimal

import orjson
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import connection
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core import services as services_core
from apps.core.asyncdb import in_thread
from apps.core.authentication import authenticate_api_key, bearer_key
from apps.core.errors import ApplicationError, InvalidInput
from apps.core.problems import problem_response
from apps.core.times import rfc3339
from apps.metering import selectors, services
from apps.metering.api.serializers import (
    CloudEventSerializer,
    IngestedEventSerializer,
    MeterCreateSerializer,
    MeterQueryResultSerializer,
    MeterQuerySerializer,
    MeterSerializer,
    MeterUpdateSerializer,
)
from apps.metering.coalescer import IngestCoalescer
from apps.metering.domain.windows import WindowSize, parse_time_zone

EVENT_CONTENT_TYPES = {
    "application/cloudevents+json": "single",
    "application/cloudevents-batch+json": "batch",
    "application/json": "either",
}


COALESCE_UP_TO = 50  # larger batches are a transaction's worth on their own
INLINE_BODY_BYTES = 64 * 1024  # larger bodies are checked outside the event loop
coalescer = IngestCoalescer(services.store_events)

INGEST_BODIES = {
    "application/cloudevents+json": CloudEventSerializer,
    "application/cloudevents-batch+json": CloudEventSerializer(many=True),
    "application/json": CloudEventSerializer(many=True),
}


class PayloadTooLarge(ApplicationError):
    status = 413
    code = "payload_too_large"


class EventIngestView(APIView):
    """``POST /api/v1/events``: CloudEvents, one or a batch; 204 on success, as OpenMeter."""

    success_status = status.HTTP_204_NO_CONTENT
    parser_classes = []  # the body is read raw: faster, and our errors, not DRF's

    def dispatch(self, request, *args, **kwargs):
        # The hottest path in the product skips DRF's request wrapping, negotiation and
        # rendering; authentication and problem+json answers are the same as elsewhere.
        if request.method != "POST":
            return super().dispatch(request, *args, **kwargs)
        try:
            authenticate_api_key(request)
            self.ingest(request)
        except ApplicationError as exc:
            return self.problem(request, exc)
        return HttpResponse(status=self.success_status)

    async def dispatch_async(self, request) -> HttpResponse:
        """The same answer from an event loop (the ASGI intake): only database work leaves it.

        Small requests are checked in the loop and handed to the group commit; large batches
        are checked and stored in a thread, so that the loop meanwhile serves small ones."""
        try:
            if services_core.api_key_recently_authenticated(bearer_key(request)) is None:
                await in_thread(authenticate_api_key)(request)
            if len(self._body(request)) > INLINE_BODY_BYTES:
                await in_thread(self.ingest)(request)
            else:
                events, now = self.events_of(request)
                if len(events) <= COALESCE_UP_TO:
                    await coalescer.store_async(events, now=now)
                else:
                    await in_thread(services.store_events)(events, now=now)
        except ApplicationError as exc:
            return self.problem(request, exc)
        return HttpResponse(status=self.success_status)

    @staticmethod
    def problem(request, exc: ApplicationError) -> HttpResponse:
        return problem_response(request, exc.status, exc.code, exc.detail, exc.errors,
                                headers=exc.headers)

    @extend_schema(request=INGEST_BODIES, responses={204: None}, operation_id="ingestEvents")
    def post(self, request):  # documents the endpoint; dispatch() serves it
        raise NotImplementedError

    def ingest(self, request) -> None:
        events, now = self.events_of(request)
        if len(events) <= COALESCE_UP_TO and not connection.in_atomic_block:
            coalescer.store(events, now=now)
        else:
            services.store_events(events, now=now)

    def events_of(self, request) -> tuple[list, datetime]:
        """The request's events, all valid, and the receipt time; or the error to answer."""
        kind = self._content_kind(request)
        payload = self._read_json(request)
        if kind == "single" and not isinstance(payload, dict):
            raise InvalidInput("application/cloudevents+json takes one event object.")
        if kind == "batch" and not isinstance(payload, list):
            raise InvalidInput("application/cloudevents-batch+json takes an array of events.")
        if kind == "either" and not isinstance(payload, dict | list):
            raise InvalidInput("Send an event object or an array of events.")
        objects = [payload] if isinstance(payload, dict) else payload
        if not objects:
            raise InvalidInput("no events found")
        if len(objects) > settings.METERLINE_INGEST_MAX_BATCH:
            raise PayloadTooLarge(
                f"{len(objects)} events in one request; the limit is "
                f"{settings.METERLINE_INGEST_MAX_BATCH}.")
        now = timezone.now()
        return services.parse_batch(objects, now=now), now

    @staticmethod
    def _content_kind(request) -> str:
        media_type = request.content_type.split(";")[0].strip().lower()
        if media_type not in EVENT_CONTENT_TYPES:
            raise InvalidInput(f"invalid content type: {request.content_type or '(none)'}")
        return EVENT_CONTENT_TYPES[media_type]

    @classmethod
    def _read_json(cls, request):
        try:
            return orjson.loads(cls._body(request))
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"Body is not valid JSON: {exc}") from exc

    @staticmethod
    def _body(request) -> bytes:
        limit = settings.METERLINE_INGEST_MAX_BODY_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            raise PayloadTooLarge(f"Body of {declared} bytes exceeds the {limit}-byte limit.")
        try:
            body = request.body
        except RequestDataTooBig as exc:
            raise PayloadTooLarge(f"Body exceeds the {limit}-byte limit.") from exc
        if len(body) > limit:
            raise PayloadTooLarge(f"Body of {len(body)} bytes exceeds the {limit}-byte limit.")
        return body


class KongEventIngestView(EventIngestView):
    """``POST /api/v3/openmeter/events``: what Kong's metering plugin posts to; 202."""

    success_status = status.HTTP_202_ACCEPTED
    http_method_names = ["post", "options"]

    @extend_schema(request=INGEST_BODIES, responses={202: None},
                   operation_id="ingestMeteringEvents")
    def post(self, request):
        raise NotImplementedError


class MeterListView(APIView):
    @extend_schema(responses=MeterSerializer(many=True), operation_id="listMeters")
    def get(self, request):
        order_by = {"key": "slug", "name": "name", "aggregation": "aggregation",
                    "createdAt": "created_at", "updatedAt": "updated_at"}
        params = request.query_params
        field = order_by.get(params.get("orderBy", "key"), "slug")
        meters = selectors.meters_listed(include_deleted=params.get("includeDeleted") == "true")
        meters = meters.order_by(f"-{field}" if params.get("order") == "DESC" else field)
        if "page" in params or "pageSize" in params:
            page, size = _positive(params, "page", 1), _positive(params, "pageSize", 100, 1000)
            meters = meters[(page - 1) * size: page * size]
        return Response(MeterSerializer(meters, many=True).data)

    @extend_schema(request=MeterCreateSerializer, responses={201: MeterSerializer},
                   operation_id="createMeter")
    def post(self, request):
        payload = MeterCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        meter = services.meter_create(**_meter_fields(payload.validated_data))
        return Response(MeterSerializer(meter).data, status=status.HTTP_201_CREATED)


def _positive(params, name, default, maximum=None) -> int:
    try:
        value = int(params.get(name, default))
    except ValueError:
        value = 0
    if value < 1 or (maximum and value > maximum):
        raise InvalidInput(f"{name} must be a whole number from 1"
                           + (f" to {maximum}" if maximum else ""), field=name)
    return value


def _meter_fields(data: dict) -> dict:
    names = {"slug": "slug", "name": "name", "description": "description",
             "aggregation": "aggregation", "eventType": "event_type",
             "eventFrom": "event_from", "valueProperty": "value_property",
             "groupBy": "group_by", "metadata": "metadata"}
    return {names[k]: ("" if v is None and k in ("description", "valueProperty") else v)
            for k, v in data.items()}


class MeterDetailView(APIView):
    @extend_schema(responses=MeterSerializer, operation_id="getMeter")
    def get(self, request, id_or_slug):
        return Response(MeterSerializer(selectors.meter_get(id_or_slug)).data)

    @extend_schema(request=MeterUpdateSerializer, responses=MeterSerializer,
                   operation_id="updateMeter")
    def put(self, request, id_or_slug):
        meter = selectors.meter_get(id_or_slug)
        immutable = {"slug": "slug", "aggregation": "aggregation", "eventType": "event_type",
                     "valueProperty": "value_property", "eventFrom": "event_from"}
        for api_name, field in immutable.items():
            if api_name in request.data and _differs(request.data[api_name], meter, field):
                raise InvalidInput(f"{api_name} cannot change after the meter is created; "
                                   "create a new meter instead.", field=api_name)
        payload = MeterUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        meter = services.meter_update(meter=meter, **_meter_fields(payload.validated_data))
        return Response(MeterSerializer(meter).data)

    @extend_schema(responses={204: None}, operation_id="deleteMeter")
    def delete(self, request, id_or_slug):
        services.meter_delete(meter=selectors.meter_get(id_or_slug))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _differs(value, meter, field) -> bool:
    current = getattr(meter, field)
    if isinstance(current, datetime):
        parsed = serializers.DateTimeField().to_internal_value(value) if value else None
        return parsed != current
    return (value or "") != (current or "")


def query_data_from_params(params) -> dict:
    """GET parameters (repeated keys, ``filterGroupBy[dim]=v``) as the POST body's shape."""
    data: dict = {}
    for key in params:
        values = params.getlist(key)
        if key.startswith("filterGroupBy[") and key.endswith("]"):
            data.setdefault("filterGroupBy", {})[key[len("filterGroupBy["):-1]] = values
        elif key in ("subject", "filterCustomerId", "groupBy"):
            data[key] = values
        else:
            data[key] = values[-1]
    return data


def run_query(request, meter_ref: str, data: dict):
    meter = selectors.meter_get(meter_ref)
    payload = MeterQuerySerializer(data=data)
    payload.is_valid(raise_exception=True)
    params = payload.validated_data
    try:
        time_zone = parse_time_zone(params["windowTimeZone"])
    except ValueError as exc:
        raise InvalidInput(str(exc), field="windowTimeZone") from exc
    for dimension in params.get("groupBy", []):
        if dimension not in meter.group_by and dimension not in selectors.RESERVED_DIMENSIONS:
            raise InvalidInput(f"Meter “{meter.slug}” has no dimension “{dimension}”.",
                               field="groupBy")
    filters = {k: v for k, v in params.get("filterGroupBy", {}).items()}
    for dimension in filters:
        if dimension not in meter.group_by:
            raise InvalidInput(f"Meter “{meter.slug}” has no dimension “{dimension}”.",
                               field=f"filterGroupBy[{dimension}]")
    query = selectors.MeterQuery(
        start=params.get("start"), end=params.get("end"),
        window_size=WindowSize(params["windowSize"]) if params.get("windowSize") else None,
        time_zone=time_zone, subjects=params.get("subject", []),
        customer_ids=params.get("filterCustomerId", []), group_by=params.get("groupBy", []),
        filter_group_by=filters,
    )
    rows = selectors.query_meter(meter, query)
    if "text/csv" in request.META.get("HTTP_ACCEPT", ""):
        return _csv_response(meter, query, rows)
    body = {"data": [_row_json(row, query) for row in rows]}
    if query.start:
        body["from"] = rfc3339(query.start)
    if query.end:
        body["to"] = rfc3339(query.end)
    if query.window_size:
        body["windowSize"] = query.window_size.value
    return Response(body)


def _number(value: Decimal | None):
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _row_json(row, query) -> dict:
    body = {"value": _number(row.value), "windowStart": rfc3339(row.window_start),
            "windowEnd": rfc3339(row.window_end), "subject": row.subject,
            "groupBy": row.group_by}
    if query.customer_ids or "customer_id" in query.group_by:
        body["customerId"] = row.customer_id
    return body


def _csv_response(meter, query, rows) -> HttpResponse:
    dimensions = [d for d in query.group_by if d not in selectors.RESERVED_DIMENSIONS]
    with_subject = bool(query.subjects) or "subject" in query.group_by
    with_customer = bool(query.customer_ids) or "customer_id" in query.group_by
    names = selectors.subject_display_names({r.subject for r in rows if r.subject})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["window_start", "window_end"]
                    + (["subject", "subject_display_name"] if with_subject else [])
                    + (["customer_id"] if with_customer else []) + dimensions + ["value"])
    for row in rows:
        value = "" if row.value is None else f"{row.value.quantize(Decimal('0.000001')):f}"
        writer.writerow([rfc3339(row.window_start), rfc3339(row.window_end)]
                        + ([row.subject, names.get(row.subject, "")] if with_subject else [])
                        + ([row.customer_id or ""] if with_customer else [])
                        + [row.group_by.get(d) or "" for d in dimensions] + [value])
    response = HttpResponse(out.getvalue(), content_type="text/csv")
    response["Content-Disposition"] = f"attachment; filename={meter.slug}.csv"
    return response


class CSVRenderer(BaseRenderer):
    """Lets ``Accept: text/csv`` through negotiation; the view writes the CSV itself."""

    media_type = "text/csv"
    format = "csv"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes | str) else orjson.dumps(data)


class MeterQueryView(APIView):
    renderer_classes = [JSONRenderer, CSVRenderer]
    @extend_schema(parameters=[MeterQuerySerializer], responses=MeterQueryResultSerializer,
                   operation_id="queryMeter")
    def get(self, request, id_or_slug):
        return run_query(request, id_or_slug, query_data_from_params(request.query_params))

    @extend_schema(request=MeterQuerySerializer, responses=MeterQueryResultSerializer,
                   operation_id="queryMeterPost")
    def post(self, request, id_or_slug):
        data = dict(request.data)
        if isinstance(data.get("filterGroupBy"), dict):
            data["filterGroupBy"] = {k: v if isinstance(v, list) else [v]
                                     for k, v in data["filterGroupBy"].items()}
        return run_query(request, id_or_slug, data)


def _time_params(request):
    field = serializers.DateTimeField()
    try:
        return tuple(field.to_internal_value(request.query_params[name])
                     if name in request.query_params else None for name in ("from", "to"))
    except serializers.ValidationError as exc:
        raise InvalidInput(str(exc.detail[0]), field="from") from exc


class MeterSubjectsView(APIView):
    @extend_schema(responses=list[str], operation_id="listMeterSubjects")
    def get(self, request, id_or_slug):
        start, end = _time_params(request)
        return Response(selectors.meter_subjects(selectors.meter_get(id_or_slug), start, end))


class MeterGroupByValuesView(APIView):
    @extend_schema(responses=list[str], operation_id="listMeterGroupByValues")
    def get(self, request, id_or_slug, dimension):
        meter = selectors.meter_get(id_or_slug)
        if dimension not in meter.group_by:
            raise InvalidInput(f"Meter “{meter.slug}” has no dimension “{dimension}”.",
                               field="groupByKey")
        start, end = _time_params(request)
        return Response(selectors.meter_group_values(meter, dimension, start, end))


class EventsView(EventIngestView):
    """``GET`` lists stored events; ``POST`` ingests."""

    @extend_schema(
        parameters=[OpenApiParameter(n, str) for n in
                    ("from", "to", "id", "subject", "customerId", "limit", "ingestedAtFrom",
                     "ingestedAtTo")],
        responses=IngestedEventSerializer(many=True), operation_id="listEvents")
    def get(self, request):
        params = request.query_params
        field = serializers.DateTimeField()
        times = {}
        for name in ("from", "to", "ingestedAtFrom", "ingestedAtTo"):
            if name in params:
                try:
                    times[name] = field.to_internal_value(params[name])
                except serializers.ValidationError as exc:
                    raise InvalidInput(str(exc.detail[0]), field=name) from exc
        limit = _positive(params, "limit", 100, 100)
        listed = selectors.events_listed(
            start=times.get("from", timezone.now() - timedelta(hours=72)), end=times.get("to"),
            ingested_from=times.get("ingestedAtFrom"), ingested_to=times.get("ingestedAtTo"),
            id_contains=params.get("id"), subject_contains=params.get("subject"),
            customer_ids=params.getlist("customerId") + params.getlist("customerId[]"),
            limit=limit,
        )
        return Response(listed)
