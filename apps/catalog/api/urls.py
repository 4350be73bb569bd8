from django.urls import path

from apps.catalog.api import views


def versioned(prefix: str, classes: dict, name: str) -> list:
    return [
        path(prefix, classes["VersionListView"].as_view(), name=f"{name}-list"),
        path(f"{prefix}/<str:id_or_key>", classes["VersionDetailView"].as_view(),
             name=f"{name}-detail"),
        path(f"{prefix}/<str:id_or_key>/next", classes["VersionNextView"].as_view(),
             name=f"{name}-next"),
        path(f"{prefix}/<str:id_or_key>/publish", classes["VersionPublishView"].as_view(),
             name=f"{name}-publish"),
        path(f"{prefix}/<str:id_or_key>/archive", classes["VersionArchiveView"].as_view(),
             name=f"{name}-archive"),
    ]


urlpatterns = [
    path("features", views.FeatureListView.as_view(), name="feature-list"),
    path("features/<str:id_or_key>", views.FeatureDetailView.as_view(), name="feature-detail"),
    *versioned("plans", views.PLAN_VIEWS, "plan"),
    path("plans/<str:id_or_key>/simulate", views.PlanSimulateView.as_view(),
         name="plan-simulate"),
    path("plans/<str:id_or_key>/addons", views.PlanAddonListView.as_view(),
         name="plan-addon-list"),
    path("plans/<str:id_or_key>/addons/<str:link_id>", views.PlanAddonDetailView.as_view(),
         name="plan-addon-detail"),
    *versioned("addons", views.ADDON_VIEWS, "addon"),
]
