"""The bookkeeper's review queue: pairs (CRM contact, QBO customer) that matching could not decide alone.

Owns the pages: the queue (score, kind, reasons in short, filters), one page per pair (contact and customer side
by side with the differing fields highlighted, the reasons in plain English, each side's recent activities and
invoices, the decision history) and its buttons, plus the customer search behind "Link to a different customer".
Every decision is one call to services/match_review.py, which checks the pair's state, records who and when,
audits and can be undone: nothing here writes a row itself, and nothing is added, edited or deleted through
Django's forms. Reading needs `view_matchcandidate` (Bookkeeper, Owner); deciding needs `approve_match`
(Bookkeeper), asked again on every POST. Pages read the ledger only: no page view calls QuickBooks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import phonenumbers
from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import model_ngettext
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.db.models.fields.json import KT
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from crm.admin.actions import objects_run
from crm.admin.base import PHONE_SEARCH, PhoneSearchMixin
from crm.models import Contact
from crm.normalization import email_normalize, phone_to_e164

from ..models import AuditEvent, MatchCandidate, QuickBooksAuth, QuickBooksSync
from ..services.customer_links import customer_descendants, customer_details, customer_financials
from ..services.match_review import (
    MatchDecisionError,
    match_candidate_approve,
    match_candidate_create_contact,
    match_candidate_history,
    match_candidate_link_other,
    match_candidate_reject,
    match_candidate_undo,
    match_candidates_approve_above,
)

Status = MatchCandidate.Status
APPROVE_PERMISSION = "quickbooks_integration.approve_match"
DEFAULT_MIN_SCORE = 90
DECISIONS = ("approve", "reject", "link_other", "create_contact", "undo")  # the pair page's buttons
RECENT = 10  # activities, invoices and QBO documents shown per side
SEARCH_LIMIT = 20  # customers the autocomplete returns
PHONE_SCAN_LIMIT = 500  # ledger rows a phone search looks at after its coarse filter on the last four digits
QBO_PHONE_FIELDS = ("PrimaryPhone", "Mobile", "AlternatePhone")  # Fax ignored, as matching ignores it
QBO_DOCUMENTS = ("Invoice", "Payment", "SalesReceipt", "CreditMemo", "Estimate")

# `MatchCandidate.kind`: the main doubt matching found (services/matching.py::_candidate), as the filter shows it.
KIND_LABELS = {
    "customer_inactive": "Customer inactive in QuickBooks",
    "contact_already_linked": "Contact already linked",
    "shared_phone": "Shared phone",
    "shared_email": "Shared e-mail",
    "keys_disagree": "Phone and e-mail point elsewhere",
    "name_only": "Name only",
    "name_conflict": "Names disagree",
    "name_partial": "Names partly agree",
    "company_vs_person": "Company vs person",
    "email_only": "E-mail only",
    "unconfirmed": "Unconfirmed",
    "manual": "Chosen by the bookkeeper",
}
SCORE_BANDS = {
    "90": ("90 and above", 90, 101),
    "70": ("70–89", 70, 90),
    "50": ("50–69", 50, 70),
    "0": ("Below 50", 0, 50),
}
HISTORY_LABELS = {
    "match.approve": "Approved (linked)",
    "match.reject": "Rejected",
    "match.create_contact": "New contact created",
    "match.undo": "Undone",
    "customer.link": "Contact linked",
    "customer.unlink": "Contact unlinked",
}


# ---------------------------------------------------------------------------------------------------- reasons


def phone_display(e164: str) -> str:
    """Turn "+16175550134" into "+1 617-555-0134": how people read a number (the reasons keep E.164)."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _key_display(value: str) -> str:
    return phone_display(value) if str(value).startswith("+") else str(value)


def _key_noun(value: str) -> str:
    return f"Phone {phone_display(value)}" if str(value).startswith("+") else f"E-mail {value}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


_CONTACT_FIELDS = {"phone": "phone", "mobile_phone": "mobile"}
_FIRST = {
    "same": "same first name",
    "nickname": "one first name is a nickname of the other",
    "typo": "first names one typo apart",
}
_LAST = {
    "same": "same last name",
    "compound": "one last name is part of the other",
    "typo": "last names one typo apart",
}
_UNCERTAIN = {
    "initial": "one first name is only an initial",
    "nickname_ambiguous": "the nickname is short for both a man's and a woman's name",
    "middle": "one side adds a middle name",
}
_NAME_DETAILS = {
    "swapped": "first and last names swapped",
    "last_name_only": "only last names to compare, and they agree",
    "same_company": "same company",
    "similar_company": "company names nearly the same",
    "company_differs": "the person agrees but the company differs",
    "same_company_other_person": "same company, another person",
    "first_name_differs": "same last name, another first name (a spouse or relative?)",
    "last_name_differs": "same first name, another last name (a married name?)",
    "first_name_only": "only first names agree",
    "single_name_is_the_last_name": "one side's single name is the other's last name",
    "generation_differs": "Jr. and Sr.: two generations of one family",
    "related_company": "the companies look related",
    "surname_in_company": "a last name appears in the other side's company name",
    "names_differ": "different people's names (a recycled phone number?)",
    "companies_differ": "different companies",
    "company_vs_person": "one side is a company, the other a person",
    "no_names": "neither side has a name",
    "not_comparable": "the names cannot be compared",
}
_VERDICTS = {
    "agree": "Names agree",
    "partial": "Names partly agree",
    "conflict": "Names disagree",
    "unknown": "Names not compared",
}


def _name_detail(detail: str) -> str:
    if detail in _NAME_DETAILS:
        return _NAME_DETAILS[detail]
    if detail.startswith("first_name_uncertain:"):
        doubt = detail.partition(":")[2]
        return f"same last name; {_UNCERTAIN.get(doubt, doubt.replace('_', ' '))}"
    first, _, last = detail.partition("_first/")
    if first in _FIRST and last.removesuffix("_last") in _LAST:
        return f"{_FIRST[first]}, {_LAST[last.removesuffix('_last')]}"
    return detail.replace("_", " ")


def reason_sentence(reason: Mapping[str, Any]) -> str:
    """One structured reason (services/matching.py) as a sentence the bookkeeper can check against the page."""
    rule, value = reason.get("rule", ""), str(reason.get("value", ""))
    if rule == "phone":
        contact_field = _CONTACT_FIELDS.get(reason.get("contact_field", ""), reason.get("contact_field", "phone"))
        return (
            f"Phone {phone_display(value)} is the contact's {contact_field} "
            f"and the customer's {reason.get('customer_field', 'phone')}."
        )
    if rule == "email":
        return f"E-mail {value} is on both."
    if rule == "name":
        verdict = _VERDICTS.get(reason.get("verdict", ""), "Names")
        similarity = reason.get("similarity")
        tail = f" ({similarity}% alike)" if similarity and reason.get("verdict") != "unknown" else ""
        return f"{verdict}: {_name_detail(str(reason.get('detail', '')))}{tail}."
    if rule == "keys_differ":
        return "Both sides have a phone or e-mail, but none of them is shared."
    if rule == "customer_inactive":
        return "The QuickBooks customer is inactive (deleted in QuickBooks)."
    if rule == "contact_already_linked":
        return "The contact is already linked to another QuickBooks customer: this one may be a duplicate there."
    if rule in ("shared_phone", "shared_email"):
        contacts, customers = int(reason.get("contacts", 0)), int(reason.get("customers", 0))
        return (
            f"{_key_noun(value)} is shared by {_count(contacts, 'contact')} and {_count(customers, 'customer')} "
            "(a household, an office line or a duplicate)."
        )
    if rule in ("phone_other_contact", "email_other_contact"):
        others = reason.get("contacts") or []
        what = "phone" if rule.startswith("phone") else "e-mail"
        ids = ", ".join(f"#{pk}" for pk in others)
        return f"The customer's {what} {_key_display(value)} is also on {_count(len(others), 'other contact')} ({ids})."
    if rule == "contact_matches_other_customers":
        ids = ", ".join(str(i) for i in reason.get("customers") or [])
        return f"The contact's phone or e-mail also matches QuickBooks customers {ids}."
    if rule == "chosen_by_bookkeeper":
        return f"Chosen by the bookkeeper instead of pair #{reason.get('instead_of')}."
    if rule == "found_on_push":
        return "Found in QuickBooks when staff asked to create this contact there: nothing was created."
    if rule == "display_name_taken":
        return "QuickBooks refused the contact's name as already taken (6240) by this customer: nothing was created."
    rest = ", ".join(f"{key} {val}" for key, val in reason.items() if key != "rule")
    return f"{rule.replace('_', ' ').capitalize()}{': ' + rest if rest else ''}."


_SHORT = {
    "phone": "phone",
    "email": "e-mail",
    "keys_differ": "phones/e-mails differ",
    "customer_inactive": "inactive customer",
    "contact_already_linked": "contact linked elsewhere",
    "shared_phone": "shared phone",
    "shared_email": "shared e-mail",
    "phone_other_contact": "phone on another contact",
    "email_other_contact": "e-mail on another contact",
    "contact_matches_other_customers": "matches other customers",
    "chosen_by_bookkeeper": "chosen by hand",
    "found_on_push": "found on push",
    "display_name_taken": "name taken in QuickBooks",
}
_SHORT_NAMES = {"agree": "names agree", "partial": "names partly agree", "conflict": "names differ", "unknown": ""}


def reasons_summary(reasons: Iterable[Mapping[str, Any]]) -> str:
    """A few words per reason, for the queue's column: "phone · e-mail · names agree"."""
    words: list[str] = []
    for reason in reasons:
        rule = reason.get("rule", "")
        word = _SHORT_NAMES.get(reason.get("verdict", ""), "") if rule == "name" else _SHORT.get(rule, rule)
        if word and word not in words:
            words.append(word)
    return " · ".join(words)


# ---------------------------------------------------------------------------------------------------- side by side


@dataclass(frozen=True)
class Comparison:
    """One row of the side-by-side table. `state` says what approving would do with it (the legend's colours)."""

    label: str
    crm: str
    qbo: str
    state: str = ""  # "same", "differs" (kept, recorded as a conflict), "fills" (CRM empty), "replaces" (QBO owns)


def _norm(field: str, value: str) -> str:
    if field in ("phone", "mobile_phone"):
        return phone_to_e164(value) or value
    if field == "email":
        return email_normalize(value)
    return " ".join(value.split()).casefold()


def _detail_state(pairs: Iterable[tuple[str, str, str]]) -> str:
    """The state of CRM-owned details, as `update_contact_from_customer` treats them: QBO fills only empty ones."""
    states = set()
    for field, crm, qbo in pairs:
        if not qbo:
            states.add("same" if not crm else "")
        elif not crm:
            states.add("fills")
        else:
            states.add("same" if _norm(field, crm) == _norm(field, qbo) else "differs")
    for state in ("differs", "fills", "same"):
        if state in states:
            return state
    return ""


def _address(values: Mapping[str, str]) -> str:
    city_line = " ".join(part for part in (values.get("state", ""), values.get("zip_code", "")) if part)
    parts = (values.get("address_line1"), values.get("address_line2"), values.get("city"), city_line)
    return ", ".join(part for part in parts if part)


def _money(value: Any) -> str:
    return "" if value is None or value == "" else f"{Decimal(value):,.2f}"


def _yes_no(value: Any) -> str:
    return "" if value is None else "yes" if value else "no"


def _qbo_phone(customer: Mapping[str, Any], key: str) -> str:
    value = customer.get(key)
    return str(value.get("FreeFormNumber") or "").strip() if isinstance(value, Mapping) else ""


def side_by_side(contact: Contact, customer: Mapping[str, Any] | None) -> list[Comparison]:
    """Contact and customer field by field, with what approving would do to each (services/customer_links.py):
    details QBO fills when the CRM's is empty or records as a conflict when both differ; financials QBO owns."""
    customer = customer or {}
    details = customer_details(customer) if customer else {}
    financials = customer_financials(customer) if customer else {}
    crm_name = " ".join(part for part in (contact.first_name, contact.last_name) if part)
    qbo_name = " ".join(part for part in (details.get("first_name"), details.get("last_name")) if part)
    address_fields = ("address_line1", "address_line2", "city", "state", "zip_code")
    crm_address = {field: getattr(contact, field) for field in address_fields}
    qbo_address = {field: details.get(field, "") for field in address_fields}

    def detail(label: str, *fields: str, crm: str | None = None, qbo: str | None = None) -> Comparison:
        pairs = [(field, getattr(contact, field) or "", details.get(field, "")) for field in fields]
        shown_crm = crm if crm is not None else " ".join(p[1] for p in pairs if p[1])
        shown_qbo = qbo if qbo is not None else " ".join(p[2] for p in pairs if p[2])
        return Comparison(label, shown_crm, shown_qbo, _detail_state(pairs))

    def owned(label: str, crm: str, qbo: str, *, known: bool) -> Comparison:
        state = "" if not known else "same" if crm == qbo else "replaces"
        return Comparison(label, crm, qbo if known else "", state)

    balance = financials.get("outstanding_balance")
    active = customer.get("Active", True) if customer else None
    return [
        Comparison("Display name", contact.display_name, str(customer.get("DisplayName", ""))),
        detail("Name", "first_name", "last_name", crm=crm_name, qbo=qbo_name),
        detail("Company", "company_name"),
        detail("Phone", "phone", qbo=_qbo_phone(customer, "PrimaryPhone")),
        detail("Mobile", "mobile_phone", qbo=_qbo_phone(customer, "Mobile")),
        Comparison("Other phone", "", _qbo_phone(customer, "AlternatePhone")),
        detail("E-mail", "email"),
        detail("Address", *address_fields, crm=_address(crm_address), qbo=_address(qbo_address)),
        owned("Balance", _money(contact.outstanding_balance), _money(balance), known=balance is not None),
        owned("Terms", contact.payment_terms, financials.get("payment_terms", ""), known="payment_terms" in financials),
        owned(
            "Tax exempt",
            _yes_no(contact.tax_exempt),
            _yes_no(financials.get("tax_exempt")),
            known="tax_exempt" in financials,
        ),
        Comparison(
            "Type / active",
            contact.get_customer_type_display(),
            "" if active is None else "active" if active not in (False, "false") else "inactive",
        ),
    ]


# ---------------------------------------------------------------------------------------------------- ledger reads


def _digits(raw: str) -> str:
    digits = re.sub(r"\D", "", raw or "")
    return digits[1:] if len(digits) == 11 and digits.startswith("1") else digits


def ledger_customers_search(*, connection_id: int, term: str, limit: int = SEARCH_LIMIT) -> list[dict[str, Any]]:
    """Top-level customers in the ledger whose DisplayName, company, person name, e-mail, id or phone (any format,
    whole or its last 7+ digits) matches `term`. Jobs are left out: a job belongs to its parent's contact and is
    never linked (services/customer_links.py). Three queries at most."""
    term = term.strip()
    if len(term) < 2:
        return []
    rows = QuickBooksSync.objects.filter(
        connection_id=connection_id, entity_type="Customer", deleted_at__isnull=True
    ).exclude(payload__has_key="ParentRef")
    digits = _digits(term)
    if PHONE_SEARCH.match(term) and len(digits) >= 7:
        coarse = Q()
        for key in QBO_PHONE_FIELDS:
            coarse |= Q(**{f"payload__{key}__FreeFormNumber__icontains": digits[-4:]})
        found = [
            entry
            for entry in rows.filter(coarse).order_by(KT("payload__DisplayName"))[:PHONE_SCAN_LIMIT]
            if any(_digits(_qbo_phone(entry.payload, key)).endswith(digits) for key in QBO_PHONE_FIELDS)
        ][:limit]
    else:
        match = Q(entity_id=term) | Q(payload__PrimaryEmailAddr__Address__icontains=term)
        for key in ("DisplayName", "CompanyName", "GivenName", "FamilyName"):
            match |= Q(**{f"payload__{key}__icontains": term})
        found = list(rows.filter(match).order_by(KT("payload__DisplayName"))[:limit])
    # Linked: the contact holding the customer id (the unique column every link rule checks), not the ledger's copy.
    holders = {
        c.quickbooks_customer_id: c
        for c in Contact.objects.filter(quickbooks_customer_id__in=[e.entity_id for e in found])
    }
    results = []
    for entry in found:
        data = entry.payload or {}
        holder = holders.get(entry.entity_id)
        email = data.get("PrimaryEmailAddr")
        results.append(
            {
                "id": entry.entity_id,
                "name": str(data.get("DisplayName") or entry.entity_id),
                "company": str(data.get("CompanyName") or ""),
                "phone": next((p for p in (_qbo_phone(data, key) for key in QBO_PHONE_FIELDS) if p), ""),
                "email": str(email.get("Address") or "") if isinstance(email, Mapping) else "",
                "active": data.get("Active", True) not in (False, "false"),
                "linked_contact_id": holder.pk if holder else None,
                "linked_contact": str(holder) if holder else "",
            }
        )
    return results


def ledger_documents(*, connection_id: int, customer_ids: list[str], limit: int = RECENT) -> list[dict[str, Any]]:
    """The customer's (and its jobs') recent invoices, payments and other sales forms, as the ledger holds them."""
    entries = (
        QuickBooksSync.objects.filter(
            connection_id=connection_id,
            entity_type__in=QBO_DOCUMENTS,
            payload__CustomerRef__value__in=customer_ids,
            deleted_at__isnull=True,
        )
        .order_by(KT("payload__TxnDate").desc(), "-entity_id")
        .only("entity_type", "entity_id", "payload")[:limit]
    )
    return [
        {
            "type": entry.entity_type,
            "number": str(entry.payload.get("DocNumber") or entry.entity_id),
            "date": str(entry.payload.get("TxnDate") or ""),
            "total": _money(entry.payload.get("TotalAmt")),
            "balance": _money(entry.payload.get("Balance")) if entry.payload.get("Balance") else "",  # 0: paid
            "due": str(entry.payload.get("DueDate") or ""),
            "customer": str((entry.payload.get("CustomerRef") or {}).get("name") or ""),
        }
        for entry in entries
    ]


def history_detail(event: AuditEvent) -> str:
    """What an audit row adds to its action label, in a few words."""
    after = event.after or {}
    parts = []
    if after.get("superseded"):
        parts.append(f"{_count(after['superseded'], 'other pair')} set aside")
    if after.get("restored"):
        parts.append(f"{_count(after['restored'], 'pair')} back in the queue")
    if after.get("contact_changes"):
        parts.append("contact fields filled: " + ", ".join(sorted(after["contact_changes"])))
    if after.get("restored_fields"):
        parts.append("contact fields put back: " + ", ".join(after["restored_fields"]))
    if after.get("created_contact"):
        parts.append(f"contact #{after['created_contact']}")
    if after.get("deleted_contact"):
        parts.append(f"contact #{after['deleted_contact']} removed")
    if after.get("instead_of"):
        parts.append(f"instead of pair #{after['instead_of']}")
    if event.action.startswith("customer.") and (after.get("customer") or after.get("quickbooks_customer_id")):
        parts.append(str(after.get("customer") or after.get("quickbooks_customer_id")))
    if event.action == "customer.unlink" and event.message:
        parts.append(event.message)
    return "; ".join(parts)


# ---------------------------------------------------------------------------------------------------- filters


class StatusFilter(admin.SimpleListFilter):
    """Pending by default (the queue); the decided ones one click away."""

    title = "status"
    parameter_name = "status"
    ALL = "all"

    def lookups(self, request, model_admin):
        return [*Status.choices, (self.ALL, "All")]

    def choices(self, changelist):
        current = self.value() or Status.PENDING
        for value, label in self.lookup_choices:
            yield {
                "selected": current == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset):
        value = self.value() or Status.PENDING
        if value == self.ALL:
            return queryset
        if value not in Status.values:
            return queryset.none()
        return queryset.filter(status=value)


class KindFilter(admin.SimpleListFilter):
    title = "main doubt"
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        kinds = MatchCandidate.objects.order_by("kind").values_list("kind", flat=True).distinct()
        return [(kind, KIND_LABELS.get(kind, kind)) for kind in kinds]

    def queryset(self, request, queryset):
        return queryset.filter(kind=self.value()) if self.value() else queryset


class ScoreBandFilter(admin.SimpleListFilter):
    title = "score"
    parameter_name = "score"

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _, _) in SCORE_BANDS.items()]

    def queryset(self, request, queryset):
        if self.value() not in SCORE_BANDS:
            return queryset
        _, low, high = SCORE_BANDS[self.value()]
        return queryset.filter(score__gte=low, score__lt=high)


class MinScoreForm(forms.Form):
    min_score = forms.IntegerField(label="Approve the selected pairs scoring at least", min_value=0, max_value=100)


# ---------------------------------------------------------------------------------------------------- admin


@admin.register(MatchCandidate)
class MatchCandidateAdmin(PhoneSearchMixin, admin.ModelAdmin):
    """The queue and the pair pages. Changes happen only through the decisions (actions and buttons)."""

    list_display = (
        "pair",
        "contact_link",
        "customer",
        "score_bar",
        "kind_label",
        "reasons_short",
        "status",
        "decided_by",
        "decided_at",
    )
    list_filter = (StatusFilter, KindFilter, ScoreBandFilter)
    search_fields = (
        "contact__first_name",
        "contact__last_name",
        "contact__company_name",
        "contact__email",
        "contact__phone",
        "contact__mobile_phone",
        "customer_name",
        "=quickbooks_customer_id",
    )
    phone_search_fields = ("contact__phone_e164", "contact__mobile_phone_e164")
    list_select_related = ("contact", "decided_by")
    list_per_page = 50
    show_full_result_count = False
    actions = ("approve", "reject", "approve_above", "undo")

    class Media:
        css = {"all": ("quickbooks_integration/match_review.css",)}

    # -------------------------------------------------------------------------------------------- permissions

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_approve_match_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(APPROVE_PERMISSION)

    # -------------------------------------------------------------------------------------------- columns

    @admin.display(description="Pair", ordering="pk")
    def pair(self, candidate: MatchCandidate) -> str:
        return f"Review #{candidate.pk}"

    @admin.display(description="Contact", ordering="contact__last_name")
    def contact_link(self, candidate: MatchCandidate) -> str:
        url = reverse("admin:crm_contact_change", args=[candidate.contact_id])
        return format_html('<a href="{}">{}</a>', url, candidate.contact)

    @admin.display(description="QuickBooks customer", ordering="customer_name")
    def customer(self, candidate: MatchCandidate) -> str:
        return f"{candidate.customer_name or '—'} (#{candidate.quickbooks_customer_id})"

    @admin.display(description="Score", ordering="score")
    def score_bar(self, candidate: MatchCandidate) -> str:
        return format_html(
            '<meter class="qbo-score" min="0" max="100" low="50" high="90" optimum="100" value="{}">{}</meter> {}',
            candidate.score,
            candidate.score,
            candidate.score,
        )

    @admin.display(description="Main doubt", ordering="kind")
    def kind_label(self, candidate: MatchCandidate) -> str:
        return KIND_LABELS.get(candidate.kind, candidate.kind)

    @admin.display(description="Reasons")
    def reasons_short(self, candidate: MatchCandidate) -> str:
        reasons = candidate.reasons or []
        return format_html(
            '<span title="{}">{}</span>', " ".join(reason_sentence(r) for r in reasons), reasons_summary(reasons)
        )

    def changelist_view(self, request: HttpRequest, extra_context=None):
        return super().changelist_view(request, {"title": "Match review", **(extra_context or {})})

    # -------------------------------------------------------------------------------------------- actions

    def _decide_each(self, request: HttpRequest, queryset: QuerySet, decide: Callable, description: str, done: str):
        """One service call per pair, each in its own transaction; counted and reported once (crm's runner)."""
        objects_run(
            modeladmin=self,
            request=request,
            objects=queryset,
            operation=lambda request, candidate: decide(candidate=candidate, actor=request.user) and None,
            description=description,
            permissions=["approve_match"],
            done=done,
            errors=(MatchDecisionError,),
            audit=False,  # the services write an AuditEvent per decision
        )

    @admin.action(description="Approve selected pairs (link and enrich the contact)", permissions=["approve_match"])
    def approve(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._decide_each(request, queryset, match_candidate_approve, "Approve the selected pairs", "approved")

    @admin.action(description="Reject selected pairs (never proposed again)", permissions=["approve_match"])
    def reject(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._decide_each(request, queryset, match_candidate_reject, "Reject the selected pairs", "rejected")

    @admin.action(description="Undo the decision on selected pairs", permissions=["approve_match"])
    def undo(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._decide_each(request, queryset, match_candidate_undo, "Undo the selected decisions", "back in the queue")

    @admin.action(description="Approve selected pairs scoring at least …", permissions=["approve_match"])
    def approve_above(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        """Asks for the minimum score on a confirmation page (as Django's delete does), then approves best first;
        a pair made moot by an earlier approval in the same run is skipped and named."""
        if not self.has_approve_match_permission(request):
            raise PermissionDenied
        candidates = list(queryset)
        form = MinScoreForm(request.POST if "min_score" in request.POST else None)
        if form.is_bound and form.is_valid():
            min_score = form.cleaned_data["min_score"]
            result = match_candidates_approve_above(candidates=candidates, min_score=min_score, actor=request.user)
            self._report_above(request, result, min_score)
            return None
        min_score = DEFAULT_MIN_SCORE
        if form.is_bound and "min_score" in form.cleaned_data:
            min_score = form.cleaned_data["min_score"]
        context = {
            **self.admin_site.each_context(request),
            "title": "Approve the selected pairs above a score",
            "opts": self.opts,
            "form": form if form.is_bound else MinScoreForm(initial={"min_score": DEFAULT_MIN_SCORE}),
            "candidates": sorted(candidates, key=lambda c: (-c.score, c.pk)),
            "at_or_above": sum(1 for c in candidates if c.score >= min_score),
            "min_score": min_score,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "action_name": "approve_above",
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/quickbooks_integration/matchcandidate/approve_above.html", context)

    def _report_above(self, request: HttpRequest, result: Mapping[str, Any], min_score: int) -> None:
        approved, below, skipped = result["approved"], result["below"], result["skipped"]
        parts = [f"{approved} {model_ngettext(self.opts, approved)} scoring {min_score} or more approved."]
        if below:
            parts.append(f"{below} below {min_score} left as {'it was' if below == 1 else 'they were'}.")
        if skipped:
            parts.append(f"{skipped} skipped: " + "; ".join(result["errors"]) + ".")
        level = messages.SUCCESS if approved and not skipped else messages.WARNING
        self.message_user(request, " ".join(parts), level)

    # -------------------------------------------------------------------------------------------- pages

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<int:object_id>/decide/",
                self.admin_site.admin_view(self.decide_view),
                name="{}_{}_decide".format(*info),
            ),
            path(
                "<int:object_id>/customers/",
                self.admin_site.admin_view(self.customer_search_view),
                name="{}_{}_customers".format(*info),
            ),
            *super().get_urls(),
        ]

    def _url(self, name: str, candidate_id: int) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_{name}", args=[candidate_id])

    def change_view(self, request: HttpRequest, object_id, form_url="", extra_context=None):
        """The pair's page (read-only): Django's change form is replaced, since nothing here is edited by a form."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET"])  # decisions POST to decide_view; there is no form to save
        candidate = (
            MatchCandidate.objects.select_related("contact", "decided_by", "superseded_by")
            .filter(pk=object_id if str(object_id).isdigit() else None)
            .first()
        )
        if candidate is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, str(object_id))
        context = {
            **self.admin_site.each_context(request),
            **self._pair_context(request, candidate),
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/quickbooks_integration/matchcandidate/review.html", context)

    def _pair_context(self, request: HttpRequest, candidate: MatchCandidate) -> dict[str, Any]:
        contact = candidate.contact
        connection_id = candidate.connection_id
        entry = QuickBooksSync.objects.filter(
            connection_id=connection_id, entity_type="Customer", entity_id=candidate.quickbooks_customer_id
        ).first()
        customer = dict(entry.payload) if entry and entry.payload else None
        holder = (
            Contact.objects.filter(quickbooks_customer_id=candidate.quickbooks_customer_id)
            .exclude(pk=contact.pk)
            .first()
        )
        customer_ids = [
            candidate.quickbooks_customer_id,
            *customer_descendants(
                connection=QuickBooksAuth(pk=connection_id), customer_id=candidate.quickbooks_customer_id
            ),
        ]
        others = (
            MatchCandidate.objects.filter(connection_id=connection_id)
            .filter(Q(contact=contact) | Q(quickbooks_customer_id=candidate.quickbooks_customer_id))
            .exclude(pk=candidate.pk)
            .select_related("contact")[:20]
        )
        history = [
            {"event": event, "label": HISTORY_LABELS.get(event.action, event.action), "detail": history_detail(event)}
            for event in match_candidate_history(candidate)[:50]
        ]
        next_pending = (
            MatchCandidate.objects.filter(status=Status.PENDING).exclude(pk=candidate.pk).values_list("pk", flat=True)
        ).first()
        customer_label = candidate.customer_name or candidate.quickbooks_customer_id
        return {
            "title": f"Review #{candidate.pk}: {contact} ⇄ {customer_label}",
            "opts": self.opts,
            "media": self.media,
            "candidate": candidate,
            "contact": contact,
            "customer": customer,
            "customer_deleted": bool(entry and entry.deleted_at),
            "holder": holder,
            "kind_label": KIND_LABELS.get(candidate.kind, candidate.kind),
            "comparison": side_by_side(contact, customer),
            "reasons": [reason_sentence(reason) for reason in candidate.reasons or []],
            "activities": contact.activities.all()[:RECENT],
            "crm_invoices": contact.invoices.all()[:RECENT],
            "qbo_documents": ledger_documents(connection_id=connection_id, customer_ids=customer_ids),
            "others": others,
            "history": history,
            "can_decide": self.has_approve_match_permission(request),
            "is_pending": candidate.status == Status.PENDING,
            "can_undo": candidate.status in (Status.APPROVED, Status.REJECTED),
            "decide_url": self._url("decide", candidate.pk),
            "search_url": self._url("customers", candidate.pk),
            "contact_url": reverse("admin:crm_contact_change", args=[contact.pk]),
            "queue_url": reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"),
            "next_url": self._url("change", next_pending) if next_pending else "",
        }

    def _decided(self, request: HttpRequest, candidate: MatchCandidate, decision: str) -> tuple[str, int]:
        """Run one decision; returns the message and the pair whose page to show next."""
        actor = request.user
        if decision == "approve":
            match_candidate_approve(candidate=candidate, actor=actor)
            return f"Linked {candidate.contact} to QuickBooks customer {candidate.customer_name}.", candidate.pk
        if decision == "reject":
            match_candidate_reject(candidate=candidate, actor=actor)
            return (
                f"Rejected: {candidate.contact} is not QuickBooks customer {candidate.customer_name}; "
                "this pair will not be proposed again (Undo puts it back).",
                candidate.pk,
            )
        if decision == "create_contact":
            contact = match_candidate_create_contact(candidate=candidate, actor=actor)
            return f"Created contact {contact} for QuickBooks customer {candidate.customer_name}, linked.", candidate.pk
        if decision == "undo":
            match_candidate_undo(candidate=candidate, actor=actor)
            candidate.refresh_from_db(fields=["status"])
            original = next(
                (r.get("instead_of") for r in candidate.reasons or [] if r.get("rule") == "chosen_by_bookkeeper"), None
            )
            if candidate.status != Status.PENDING and original:  # a "link to a different customer" undone
                return f"Undone: pair #{original} is back in the queue.", int(original)
            return "Undone: the pair is back in the queue.", candidate.pk
        return self._link_other(request, candidate)

    def _link_other(self, request: HttpRequest, candidate: MatchCandidate) -> tuple[str, int]:
        """Only a customer the ledger holds for this connection (the search's results): a typed id that QBO never
        sent would make the service read QBO inside its transaction."""
        customer_id = request.POST.get("quickbooks_customer_id", "").strip()
        entry = QuickBooksSync.objects.filter(
            connection_id=candidate.connection_id, entity_type="Customer", entity_id=customer_id, deleted_at=None
        ).first()
        if entry is None:
            raise MatchDecisionError("Choose the QuickBooks customer from the search results.")
        chosen = match_candidate_link_other(candidate=candidate, quickbooks_customer_id=customer_id, actor=request.user)
        name = (entry.payload or {}).get("DisplayName") or customer_id
        return (
            f"Linked {candidate.contact} to QuickBooks customer {name} instead of {candidate.customer_name}.",
            chosen.pk,
        )

    def decide_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """The pair page's buttons: POST only (CSRF by `admin_view`), `approve_match` asked here, a message after."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_approve_match_permission(request):
            raise PermissionDenied
        candidate = get_object_or_404(MatchCandidate.objects.select_related("contact"), pk=object_id)
        decision = request.POST.get("decision", "")
        if decision not in DECISIONS:
            return HttpResponseBadRequest("Unknown decision.")
        try:
            message, shown = self._decided(request, candidate, decision)
        except MatchDecisionError as error:
            self.message_user(request, str(error), messages.ERROR)
            shown = candidate.pk
        else:
            self.message_user(request, message, messages.SUCCESS)
        return HttpResponseRedirect(self._url("change", shown))

    def customer_search_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """JSON for the "Link to a different customer" autocomplete: the ledger's customers, never QBO itself."""
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET"])
        if not self.has_approve_match_permission(request):
            raise PermissionDenied
        candidate = get_object_or_404(MatchCandidate.objects.only("pk", "connection_id", "contact_id"), pk=object_id)
        results = ledger_customers_search(connection_id=candidate.connection_id, term=request.GET.get("q", ""))
        for result in results:
            result["selectable"] = result["linked_contact_id"] in (None, candidate.contact_id)
        return JsonResponse({"results": results})
