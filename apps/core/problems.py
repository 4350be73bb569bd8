"""RFC 7807 problem+json for every API error, as OpenMeter answers them."""

from http import HTTPStatus

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.core.errors import ApplicationError

PROBLEM_CONTENT_TYPE = "application/problem+json"


def problem_body(status: int, *, code: str, detail: str, instance: str = "", errors=None) -> dict:
    body = {
        "type": f"urn:meterline:problem:{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": instance,
        "code": code,
    }
    if errors:
        body["errors"] = errors
    return body


def flatten_validation_errors(detail, prefix: str = "") -> list[dict]:
    """DRF's nested error detail as a flat list of {field, code, message}."""
    if isinstance(detail, dict):
        items = []
        for key, value in detail.items():
            name = prefix if key == "non_field_errors" else f"{prefix}{key}"
            items += flatten_validation_errors(value, f"{name}." if name else "")
        return items
    if isinstance(detail, list):
        if all(isinstance(item, exceptions.ErrorDetail | str) for item in detail):
            field = prefix.rstrip(".") or None
            return [
                {"field": field, "code": getattr(item, "code", "invalid"), "message": str(item)}
                for item in detail
            ]
        items = []
        for index, value in enumerate(detail):
            items += flatten_validation_errors(value, f"{prefix}{index}.")
        return items
    return [{"field": prefix.rstrip(".") or None, "code": getattr(detail, "code", "invalid"),
             "message": str(detail)}]


def problem_exception_handler(exc, context):
    request = context.get("request")
    instance = request.path if request is not None else ""
    if isinstance(exc, ApplicationError):
        body = problem_body(exc.status, code=exc.code, detail=exc.detail, instance=instance,
                            errors=exc.errors)
        return Response(body, status=exc.status, content_type=PROBLEM_CONTENT_TYPE,
                        headers=exc.headers or None)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict")
                                         else exc.messages)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten_validation_errors(exc.detail)
        first = errors[0] if errors else {"field": None, "message": "Invalid input."}
        where = f"{first['field']}: " if first["field"] else ""
        body = problem_body(400, code="validation_error", detail=where + first["message"],
                            instance=instance, errors=errors)
    elif isinstance(exc, Http404 | exceptions.NotFound):
        body = problem_body(404, code="not_found", detail=str(exc) or "Not found.",
                            instance=instance)
    elif isinstance(exc, PermissionDenied):
        body = problem_body(403, code="permission_denied", detail="Permission denied.",
                            instance=instance)
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        body = problem_body(response.status_code, code=code if isinstance(code, str) else "error",
                            detail=str(detail), instance=instance)
    response.data = body
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def problem_response(request, status: int, code: str, detail: str, errors=None,
                     headers=None) -> JsonResponse:
    return JsonResponse(
        problem_body(status, code=code, detail=detail, instance=request.path, errors=errors),
        status=status,
        content_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )
