from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from apps.core import views as core_views
from apps.metering.api.views import KongEventIngestView
from apps.stripe_sync.views import stripe_webhook

api_v1 = [
    path("", include("apps.customers.api.urls")),
    path("", include("apps.metering.api.urls")),
    path("", include("apps.catalog.api.urls")),
    path("", include("apps.billing.api.urls")),
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="openapi-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="openapi-schema"), name="api-docs"),
]

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("api/v1/", include(api_v1)),
    path("api/v1/stripe/webhook", stripe_webhook, name="stripe-webhook"),
    path("api/v3/openmeter/events", KongEventIngestView.as_view(), name="v3-events"),
    path("admin/", admin.site.urls),
    path("", core_views.home, name="home"),
]

handler404 = "apps.core.views.api_not_found"
handler500 = "apps.core.views.api_server_error"
