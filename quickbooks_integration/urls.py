"""URLs of the QuickBooks integration: OAuth connect/callback/disconnect (DESIGN §3)."""

from django.urls import path

from . import views

app_name = "quickbooks"

urlpatterns = [
    path("quickbooks/connect/", views.quickbooks_connect, name="connect"),
    path("quickbooks/callback/", views.quickbooks_callback, name="callback"),
    path("quickbooks/disconnect/", views.quickbooks_disconnect, name="disconnect"),
    path("quickbooks/test/", views.quickbooks_test_connection, name="test"),
    path("quickbooks/error/", views.quickbooks_error, name="error"),
]
