"""The revenue dashboards' permission holder: a model with no table, so `view_dashboards` is a real permission the
roles can grant and the admin index can list.

The dashboards read the CRM's invoices, payments, quotes and campaigns (services/analytics); they own no rows.
`managed = False` keeps a table out of the schema; Django still creates the content type and the permission.
"""

from __future__ import annotations

from django.db import models


class Dashboard(models.Model):
    """Never queried: `admin/dashboards.py` registers it to put the pages in the admin."""

    class Meta:
        managed = False
        db_table = "quickbooks_integration_dashboard_unused"
        default_permissions = ()
        permissions = [("view_dashboards", "Can view the revenue dashboards")]
        verbose_name = "revenue dashboard"
        verbose_name_plural = "revenue dashboards"

    def __str__(self) -> str:  # pragma: no cover - no instance is ever made
        return "Revenue dashboards"
