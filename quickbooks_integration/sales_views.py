"""The invoice PDF link: streams the PDF QuickBooks renders for an invoice (`GET invoice/<id>/pdf`).

A thin caller of `services.invoices.invoice_pdf`, which checks `crm.view_invoice` again and makes one attempt (the
person is waiting). Only staff reach it (the link is on the admin's invoice page); anonymous users go to the admin
login. A QuickBooks failure sends the person back to the invoice with the reason, instead of an error page.
"""

from __future__ import annotations

import io

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from crm.models import Invoice

from .qbo.errors import QuickBooksError
from .services.estimates import PushNotAllowedError, SalesPushError, error_text
from .services.invoices import invoice_pdf as invoice_pdf_fetch


@never_cache
@require_GET
def invoice_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    """Download the invoice's PDF from QuickBooks, named after the CRM invoice number."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), reverse("admin:login"))
    if not request.user.is_staff:
        raise PermissionDenied("Only staff may download invoices.")
    invoice = get_object_or_404(Invoice, pk=pk)
    try:
        content = invoice_pdf_fetch(invoice=invoice, actor=request.user)
    except PushNotAllowedError as exc:
        raise PermissionDenied(str(exc)) from exc
    except (SalesPushError, QuickBooksError) as exc:
        messages.error(request, f"The PDF could not be fetched from QuickBooks: {error_text(exc)}")
        return HttpResponseRedirect(reverse("admin:crm_invoice_change", args=[invoice.pk]))
    return FileResponse(
        io.BytesIO(content), as_attachment=True, filename=f"{invoice}.pdf", content_type="application/pdf"
    )
