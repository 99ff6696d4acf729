"""`POST /webhooks/quickbooks/`: check the signature, store the events, answer; nothing else (STYLE §6, §8).

The order is the point: the size cap before reading, the HMAC on the raw bytes before any parsing (B1), then the
store. Intuit's queue blocks until an event is acknowledged, so a signed delivery always gets 200 once stored, even
when it cannot be read (it is stored as unparseable), and 503 only when the database did not take it (B3, B4).
CSRF-exempt (Intuit has no cookie; the HMAC authenticates it), open to anonymous callers, not wrapped in the request
transaction (the store commits its own, and queues processing on commit), POST only (B10).
"""

from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .services.webhooks import max_body_bytes, webhook_delivery_store, webhook_signature_valid

logger = logging.getLogger(__name__)


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


@csrf_exempt
@login_not_required
@require_POST
@transaction.non_atomic_requests
def quickbooks_webhook(request: HttpRequest) -> HttpResponse:
    limit = max_body_bytes()
    if _content_length(request) > limit:
        logger.warning("webhook refused: %s bytes is over the %s-byte limit", _content_length(request), limit)
        return HttpResponse("Payload too large", status=413, content_type="text/plain")
    try:
        body = request.body
    except RequestDataTooBig:
        return HttpResponse("Payload too large", status=413, content_type="text/plain")
    signature = request.headers.get("intuit-signature")
    if not webhook_signature_valid(body=body, signature=signature):
        # A security log line and nothing stored: no body, no header value (B1, F3).
        logger.warning(
            "webhook rejected: %s intuit-signature, %d bytes from %s",
            "bad" if signature else "missing",
            len(body),
            request.META.get("REMOTE_ADDR", "?"),
        )
        return HttpResponse("Invalid signature", status=401, content_type="text/plain")
    try:
        result = webhook_delivery_store(body=body, delivery_id=request.headers.get("intuit-t-id", ""))
    except DatabaseError:
        logger.exception("webhook delivery could not be stored; answering 503 so Intuit retries")
        return HttpResponse("Not stored, retry later", status=503, content_type="text/plain")
    return JsonResponse({"received": result.received, "stored": result.stored, "duplicates": result.duplicates})
