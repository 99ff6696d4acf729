"""Admin template tags: the "QuickBooks needs reconnecting" banner shown on every admin page."""

from __future__ import annotations

from django import template
from django.template.loader import render_to_string
from django.urls import reverse

from ..services.connection import connection_needing_attention

register = template.Library()


@register.simple_tag(takes_context=True)
def quickbooks_banner(context) -> str:
    """One query per admin page; nothing for anonymous users (the login page)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_staff:
        return ""
    connection = connection_needing_attention()
    if connection is None:
        return ""
    url = reverse("admin:quickbooks_integration_quickbooksauth_changelist")
    return render_to_string("quickbooks/banner.html", {"connection": connection, "url": url})
