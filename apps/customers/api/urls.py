from django.urls import path

from apps.customers.api import views

urlpatterns = [
    path("customers", views.CustomerListView.as_view(), name="customer-list"),
    path("customers/<str:id_or_key>", views.CustomerDetailView.as_view(),
         name="customer-detail"),
]
