"""The CRM admin's extension point: other apps add actions, list columns, read-only fields and history entries to the
CRM's ModelAdmins without the CRM importing them (DESIGN §1: `crm` must not import `quickbooks_integration`).

How an app extends the CRM admin (the QuickBooks integration does it in
`quickbooks_integration/admin/crm_extensions.py`, imported by its `admin` package, so Django's admin autodiscovery
runs it once at start-up)::

    from crm.admin import extensions
    from crm.admin.actions import object_action

    @object_action(description="Create QuickBooks estimates", permissions=["push_estimate"], done="pushed")
    def create_quickbooks_estimate(request, quote):
        estimate_push(quote=quote, actor=request.user)        # the service audits itself (AuditEvent)

    extensions.extend(Quote, actions=[create_quickbooks_estimate], list_display=[quickbooks_column],
                      readonly_fields=[quickbooks_link], history=[audit_history])

- `actions`: admin action functions `(modeladmin, request, queryset)`, normally built with
  `crm.admin.actions.object_action` (permission check, per-object errors, one summary message, audit). Each is
  shown only to users who hold one of its `allowed_permissions` (see `ExtensibleAdminMixin.action_permitted`).
- `list_display`: callables `(obj) -> str` (decorate with `@admin.display(description=..., ordering=...)`),
  appended after the CRM's own columns. They must not query per row (the changelist query-count tests hold it).
- `readonly_fields`: callables `(obj) -> str` or attribute names, shown read-only on the change page (in an
  extra fieldset when the admin declares `fieldsets`).
- `history`: providers `(*, obj) -> Iterable[HistoryEntry]`; the object's admin history page merges their entries
  with its Django `LogEntry` rows (its CRM edits), oldest first, so one page shows everything done to the record.

The registry is read at request time, so the order in which apps load does not matter, and nothing is copied into
the ModelAdmin classes. `extend()` is idempotent (the same callable registered twice is kept once); `retract()`
undoes it (tests use it to leave the registry as they found it).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from django.db import models

AdminAction = Callable[..., object]
HistoryProvider = Callable[..., Iterable["HistoryEntry"]]
EXTENSION_KINDS = ("actions", "list_display", "readonly_fields", "history")


@dataclass(frozen=True)
class HistoryEntry:
    """One line of an object's history page, whichever app recorded it."""

    at: datetime.datetime
    actor: str
    action: str
    source: str = "CRM"
    outcome: str = ""
    message: str = ""


@dataclass
class ModelExtensions:
    actions: list[AdminAction] = field(default_factory=list)
    list_display: list[Callable[..., object] | str] = field(default_factory=list)
    readonly_fields: list[Callable[..., object] | str] = field(default_factory=list)
    history: list[HistoryProvider] = field(default_factory=list)


_registry: dict[type[models.Model], ModelExtensions] = {}


def extend(
    model: type[models.Model],
    *,
    actions: Sequence[AdminAction] = (),
    list_display: Sequence[Callable[..., object] | str] = (),
    readonly_fields: Sequence[Callable[..., object] | str] = (),
    history: Sequence[HistoryProvider] = (),
) -> None:
    """Add actions, list columns, read-only fields and history providers to `model`'s CRM admin."""
    extensions = _registry.setdefault(model, ModelExtensions())
    for kind, items in zip(EXTENSION_KINDS, (actions, list_display, readonly_fields, history), strict=True):
        registered = getattr(extensions, kind)
        registered.extend(item for item in items if item not in registered)


def retract(model: type[models.Model], **kinds: Sequence) -> None:
    """Remove what `extend()` added; takes the same keyword arguments (unknown items are ignored)."""
    extensions = _registry.get(model)
    for kind, items in kinds.items():
        if kind not in EXTENSION_KINDS:
            raise TypeError(f"retract() got an unexpected keyword argument {kind!r}")
        if extensions is not None:
            registered = getattr(extensions, kind)
            registered[:] = [item for item in registered if item not in items]


def extensions_for(model: type[models.Model]) -> ModelExtensions:
    """What other apps registered for `model` (an empty set when nothing was)."""
    return _registry.get(model) or ModelExtensions()
