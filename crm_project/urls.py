"""Root URLs: the admin (where every role works) and the QuickBooks integration's endpoints."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("quickbooks_integration.urls")),
    path("admin/", admin.site.urls),
]
