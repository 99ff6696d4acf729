"""The contact merge page: two contacts side by side, what each merge direction moves, the survivor chosen, confirmed.

Reached from the contact list's action "Merge two selected contacts" or from a duplicates list (a link with
`?ids=<a>,<b>`). GET only shows; the merge happens on POST (CSRF), by `crm.services.contact_merge.contacts_merge`,
which re-checks `crm.merge_contact` and audits. Registered by `crm/admin/contacts.py` (URL and action).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import quote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode

from crm.models import Contact
from crm.services.contact_merge import MERGE_PERMISSION, ContactMergeError, contacts_merge, contacts_merge_preview

SHOWN_FIELDS = (
    "first_name",
    "last_name",
    "company_name",
    "phone",
    "mobile_phone",
    "email",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "zip_code",
    "source",
    "customer_type",
    "payment_terms",
    "outstanding_balance",
    "total_sales",
    "quickbooks_customer_id",
    "created_at",
)


def merge_url(first_id: int, second_id: int) -> str:
    """The merge page for two contacts (the first one is proposed as the survivor)."""
    return reverse("admin:crm_contact_merge") + "?" + urlencode({"ids": f"{first_id},{second_id}"})


@admin.action(description="Merge two selected contacts", permissions=["merge_contact"])
def merge_two_contacts(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
    """Exactly two contacts: open their merge page (nothing changes before its confirmation)."""
    ids = sorted(queryset.values_list("pk", flat=True)[:3])
    if len(ids) != 2:
        modeladmin.message_user(request, "Select exactly two contacts to merge.", messages.ERROR)
        return None
    return HttpResponseRedirect(merge_url(*ids))


def _ids(raw: str) -> list[int]:
    try:
        ids = [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        return []
    return ids if len(ids) == 2 and ids[0] != ids[1] else []


def _display(contact: Contact, name: str) -> str:
    field = Contact._meta.get_field(name)
    if field.choices:
        return getattr(contact, f"get_{name}_display")()
    value = getattr(contact, name)
    return "" if value is None else str(value)


def contact_merge_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    """Show the pair (GET) or merge the one not chosen into the chosen survivor (POST)."""
    if not request.user.has_perm(MERGE_PERMISSION):
        raise PermissionDenied
    changelist = reverse("admin:crm_contact_changelist")
    ids = _ids(request.POST.get("ids") or request.GET.get("ids") or "")
    contacts = {c.pk: c for c in Contact.objects.filter(pk__in=ids)}
    if len(contacts) != 2:
        model_admin.message_user(
            request, "Those two contacts cannot be found (merged or deleted already?).", messages.ERROR
        )
        return HttpResponseRedirect(changelist)
    first, second = contacts[ids[0]], contacts[ids[1]]
    if request.method == "POST":
        survivor_id = int(request.POST.get("survivor") or 0)
        if survivor_id not in contacts:
            model_admin.message_user(request, "Choose which contact to keep.", messages.ERROR)
        else:
            survivor = contacts[survivor_id]
            duplicate = second if survivor is first else first
            try:
                merged = contacts_merge(survivor=survivor, duplicate=duplicate, actor=request.user)
            except ContactMergeError as error:
                model_admin.message_user(request, str(error), messages.ERROR)
            else:
                model_admin.message_user(request, f"Merged {duplicate} into {merged}.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:crm_contact_change", args=[quote(merged.pk)]))
    rows = [
        {
            "label": Contact._meta.get_field(name).verbose_name,
            "first": _display(first, name),
            "second": _display(second, name),
            "differs": _display(first, name) != _display(second, name),
        }
        for name in SHOWN_FIELDS
    ]
    options = [
        {"survivor": first, "duplicate": second, "preview": contacts_merge_preview(survivor=first, duplicate=second)},
        {"survivor": second, "duplicate": first, "preview": contacts_merge_preview(survivor=second, duplicate=first)},
    ]
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Merge two contacts",
        "opts": Contact._meta,
        "first": first,
        "second": second,
        "rows": rows,
        "options": options,
        "ids": f"{first.pk},{second.pk}",
        "changelist_url": changelist,
    }
    return TemplateResponse(request, "admin/crm/contact_merge.html", context)
