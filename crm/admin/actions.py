"""The one runner behind every per-object admin action, the CRM's own and those other apps register (STYLE §9).

An action is a function of one object that calls one service; `object_action` turns it into a Django admin action
that, for the selected rows:

1. checks the permission again when it runs (`action_permitted`), not only when Django lists the action: a refused
   run changes nothing, says so, and leaves an audit line per object (RELIABILITY E2);
2. runs the function for each object in its own transaction, so one failing object leaves no half-done change and
   does not stop the others; only the errors named in `errors` (the domain's typed errors) are caught, anything
   else is a bug and propagates;
3. writes one audit record per object, success or failure, as a `LogEntry` on the object's history (admin actions
   write none by themselves); pass `audit=False` when the service audits itself (the QuickBooks services write an
   `AuditEvent`, which the history page shows too, see `crm.admin.extensions`);
4. reports once: "2 quotes converted to draft invoices. 1 failed: Q-000003: …", pluralised with the model's names.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import model_ngettext
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from crm.errors import CrmError

# The function an action wraps: does the work on one object, returns the change message for its history (or None).
ObjectOperation = Callable[[HttpRequest, Any], str | None]


def action_permitted(modeladmin: admin.ModelAdmin, request: HttpRequest, permissions: Sequence[str]) -> bool:
    """Whether the user holds one of `permissions` (any, as Django's `_filter_actions_by_permissions` decides).

    A name with a dot is a full permission ("quickbooks_integration.retry_sync"); a bare name is asked of the
    ModelAdmin's `has_<name>_permission` when it has one (Django's own "change", "add_invoice"…), else taken as a
    codename of the model's app ("push_estimate" → "crm.push_estimate"). No permissions listed: allowed.
    """
    if not permissions:
        return True
    for permission in permissions:
        if "." in permission:
            allowed = request.user.has_perm(permission)
        elif hasattr(modeladmin, f"has_{permission}_permission"):
            allowed = getattr(modeladmin, f"has_{permission}_permission")(request)
        else:
            allowed = request.user.has_perm(f"{modeladmin.opts.app_label}.{permission}")
        if allowed:
            return True
    return False


def object_action(
    *,
    description: str,
    permissions: Sequence[str],
    done: str,
    errors: tuple[type[Exception], ...] = (CrmError,),
    audit: bool = True,
) -> Callable[[ObjectOperation], Callable[[admin.ModelAdmin, HttpRequest, QuerySet], None]]:
    """Decorate `operation(request, obj) -> change message | None` into an admin action (named after it).

    `done` is the past-tense phrase of the summary ("converted to draft invoices"); `errors` the exception types
    that fail one object rather than the request.
    """

    def decorate(operation: ObjectOperation) -> Callable[[admin.ModelAdmin, HttpRequest, QuerySet], None]:
        @functools.wraps(operation)
        def action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
            objects_run(
                modeladmin=modeladmin,
                request=request,
                objects=queryset,
                operation=operation,
                description=description,
                permissions=permissions,
                done=done,
                errors=errors,
                audit=audit,
            )

        action.allowed_permissions = tuple(permissions)
        action.short_description = description
        return action

    return decorate


def objects_run(
    *,
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    objects: Sequence[models.Model] | QuerySet,
    operation: ObjectOperation,
    description: str,
    permissions: Sequence[str],
    done: str,
    errors: tuple[type[Exception], ...] = (CrmError,),
    audit: bool = True,
) -> tuple[int, list[str]]:
    """Run `operation` on each object as described in the module docstring; returns (done count, error lines)."""
    opts = modeladmin.opts
    if not action_permitted(modeladmin, request, permissions):
        if audit:
            for obj in objects:
                modeladmin.log_change(request, obj, f"Refused: {description} (no permission).")
        modeladmin.message_user(request, f"You may not {description.lower()}.", messages.ERROR)
        return 0, []
    succeeded, failures = 0, []
    for obj in objects:
        try:
            with transaction.atomic():
                change_message = operation(request, obj)
        except errors as exc:
            failures.append(f"{obj}: {exc}")
            if audit:
                modeladmin.log_change(request, obj, f"Failed: {description}: {exc}")
            continue
        succeeded += 1
        if audit:
            modeladmin.log_change(request, obj, change_message or f"{description}: done.")
    parts = []
    if succeeded:
        parts.append(f"{succeeded} {model_ngettext(opts, succeeded)} {done}.")
    if failures:
        parts.append(f"{len(failures)} failed: " + "; ".join(failures) + ".")
    level = messages.ERROR if not succeeded else messages.WARNING if failures else messages.SUCCESS
    modeladmin.message_user(request, " ".join(parts) or f"No {opts.verbose_name_plural} selected.", level)
    return succeeded, failures
