"""Template context for pages outside the admin's own views (error pages, the OAuth error page).

The admin passes `site_header`, `site_title` and `has_permission` itself; pages rendered by other views extend the
admin's `base_site.html` too and, without these, would say "Django administration" and hide the user's name and
the log-out link. Admin views still win: their context sits above a context processor's.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest


def branding(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    return {
        "site_header": admin.site.site_header,
        "site_title": admin.site.site_title,
        "site_url": admin.site.site_url,
        # Callable, so the session and user are loaded only by a template that asks.
        "has_permission": lambda: bool(user is not None and user.is_active and user.is_staff),
    }
