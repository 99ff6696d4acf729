"""Typed errors raised by CRM services; admin and integration code turn them into messages or failure rows."""


class CrmError(Exception):
    """Base of every error a CRM service raises on purpose."""


class DocumentStateError(CrmError):
    """The quote or invoice is in a state that forbids the operation (void, already converted…)."""


class PaymentApplicationError(CrmError):
    """A payment cannot be applied as asked: wrong customer, more than is owed, more than was paid."""
