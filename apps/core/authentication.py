from rest_framework import authentication, exceptions

from apps.core import services
from apps.core.errors import ApplicationError


class ApiClient:
    """The principal behind an API request: a key, not a person."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, api_key):
        self.api_key = api_key
        self.pk = None

    def __str__(self):
        return f"api-key:{self.api_key.prefix}"


class Unauthenticated(ApplicationError):
    status = 401
    code = "not_authenticated"
    headers = {"WWW-Authenticate": 'Bearer realm="meterline"'}


def bearer_key(request) -> str:
    """The raw key of ``Authorization: Bearer <key>``, or Unauthenticated."""
    parts = authentication.get_authorization_header(request).split()
    if not parts or parts[0].lower() != b"bearer":
        raise Unauthenticated("Authentication credentials were not provided.")
    if len(parts) != 2:
        raise Unauthenticated("Malformed Authorization header.")
    try:
        return parts[1].decode("ascii")
    except UnicodeDecodeError:
        raise Unauthenticated("Invalid or revoked API key.") from None


def authenticate_api_key(request) -> ApiClient:
    """The API client behind a plain Django request, or Unauthenticated."""
    api_key = services.api_key_authenticate(bearer_key(request))
    if api_key is None:
        raise Unauthenticated("Invalid or revoked API key.")
    return ApiClient(api_key)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <key>`` — what OpenMeter's SDKs and Kong's plugin send."""

    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        try:
            raw_key = parts[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("Malformed API key.") from exc
        api_key = services.api_key_authenticate(raw_key)
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        return ApiClient(api_key), api_key

    def authenticate_header(self, request):
        return 'Bearer realm="meterline"'
