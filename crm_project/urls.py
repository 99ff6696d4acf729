"""Root URLs: the admin (where every role works), the QuickBooks integration's endpoints and the health probes.

403 and 404 use Django's views with our templates (they render with the request); 500 uses `errors.server_error`.
"""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from . import health

admin.site.site_header = "Attack-a-Crack CRM"
admin.site.site_title = "Attack-a-Crack CRM"
admin.site.index_title = "Office"

handler500 = "crm_project.errors.server_error"

urlpatterns = [
    path("healthz/", health.healthz, name="healthz"),
    path("readyz/", health.readyz, name="readyz"),
    path("", include("quickbooks_integration.urls")),
    path("admin/", admin.site.urls),
    path("", RedirectView.as_view(pattern_name="admin:index"), name="home"),
]
