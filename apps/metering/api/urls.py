from django.urls import path

from apps.metering.api import views

urlpatterns = [
    path("events", views.EventsView.as_view(), name="events"),
    path("meters", views.MeterListView.as_view(), name="meter-list"),
    path("meters/<str:id_or_slug>", views.MeterDetailView.as_view(), name="meter-detail"),
    path("meters/<str:id_or_slug>/query", views.MeterQueryView.as_view(), name="meter-query"),
    path("meters/<str:id_or_slug>/subjects", views.MeterSubjectsView.as_view(),
         name="meter-subjects"),
    path("meters/<str:id_or_slug>/group-by/<str:dimension>/values",
         views.MeterGroupByValuesView.as_view(), name="meter-group-by-values"),
]
