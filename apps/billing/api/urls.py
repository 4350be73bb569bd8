from django.urls import path

from apps.billing.api import views

urlpatterns = [
    path("subscriptions", views.SubscriptionListView.as_view(), name="subscription-list"),
    path("subscriptions/<str:subscription_id>", views.SubscriptionDetailView.as_view(),
         name="subscription-detail"),
    path("subscriptions/<str:subscription_id>/cancel", views.SubscriptionCancelView.as_view(),
         name="subscription-cancel"),
    path("subscriptions/<str:subscription_id>/change", views.SubscriptionChangeView.as_view(),
         name="subscription-change"),
    path("subscriptions/<str:subscription_id>/migrate",
         views.SubscriptionMigrateView.as_view(), name="subscription-migrate"),
    path("subscriptions/<str:subscription_id>/addons", views.SubscriptionAddonsView.as_view(),
         name="subscription-addons"),
    path("subscriptions/<str:subscription_id>/addons/<str:addon_id>",
         views.SubscriptionAddonDetailView.as_view(), name="subscription-addon-detail"),
    path("subscriptions/<str:subscription_id>/upcoming-invoice",
         views.UpcomingInvoiceView.as_view(), name="subscription-upcoming-invoice"),
    path("customers/<str:id_or_key>/subscriptions", views.CustomerSubscriptionsView.as_view(),
         name="customer-subscriptions"),
    path("billing/invoices", views.InvoiceListView.as_view(), name="invoice-list"),
    path("billing/invoices/invoice", views.InvoiceNowView.as_view(), name="invoice-now"),
    path("billing/invoices/<str:invoice_id>", views.InvoiceDetailView.as_view(),
         name="invoice-detail"),
    path("billing/invoices/<str:invoice_id>/approve", views.InvoiceApproveView.as_view(),
         name="invoice-approve"),
    path("billing/invoices/<str:invoice_id>/void", views.InvoiceVoidView.as_view(),
         name="invoice-void"),
    path("billing/invoices/<str:invoice_id>/pdf", views.InvoicePdfView.as_view(),
         name="invoice-pdf"),
]
