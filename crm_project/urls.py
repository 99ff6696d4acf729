"""Root URLs: the admin (where every role works) and the QuickBooks integration's endpoints."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = "Attack-a-Crack CRM"
admin.site.site_title = "Attack-a-Crack CRM"
admin.site.index_title = "Office"

urlpatterns = [
    path("", include("quickbooks_integration.urls")),
    path("admin/", admin.site.urls),
    path("", RedirectView.as_view(pattern_name="admin:index"), name="home"),
]
