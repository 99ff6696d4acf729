"""URLs of the QuickBooks integration: OAuth connect/callback/disconnect and the webhook endpoint (DESIGN §3)."""

from django.urls import path

from . import sales_views, views, webhook_views

app_name = "quickbooks"

urlpatterns = [
    path("quickbooks/connect/", views.quickbooks_connect, name="connect"),
    path("quickbooks/callback/", views.quickbooks_callback, name="callback"),
    path("quickbooks/disconnect/", views.quickbooks_disconnect, name="disconnect"),
    path("quickbooks/test/", views.quickbooks_test_connection, name="test"),
    path("quickbooks/error/", views.quickbooks_error, name="error"),
    path("webhooks/quickbooks/", webhook_views.quickbooks_webhook, name="webhook"),
    path("quickbooks/invoices/<int:pk>/pdf/", sales_views.invoice_pdf, name="invoice_pdf"),
]
