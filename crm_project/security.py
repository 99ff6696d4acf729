"""Permissions-Policy: the CRM uses no camera, microphone, location, payment or USB, so no page may ask for them.

django-csp sets the Content-Security-Policy (a maintained library with nonces, per-view overrides and report-only
mode for the day a dashboard needs them); Permissions-Policy is one fixed header, so a library would add nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


class PermissionsPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = getattr(settings, "PERMISSIONS_POLICY", "")
        if policy:
            response.headers.setdefault("Permissions-Policy", policy)
        return response
