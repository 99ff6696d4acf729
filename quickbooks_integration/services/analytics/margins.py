"""Margins by service: (price − cost) × quantity over invoice lines, with the product's cost (QBO PurchaseCost).

The CRM keeps one cost per product, today's, not the cost on the day of each sale: a margin is "at today's cost".
A line whose product has no cost, or that has no product (typed), has revenue but no known cost; it is counted in
revenue and left out of the margin, and its revenue is shown, so a margin is never flattered by a missing cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, DecimalField, ExpressionWrapper, F, Q, Sum

from crm.models import InvoiceItem, ItemType
from crm.money import q

from .common import DateRange, invoices_billed, share

PRODUCT, TYPE = "product", "type"
TYPED_LINES = "(typed lines, no product)"
COST = DecimalField(max_digits=24, decimal_places=9)


@dataclass(frozen=True)
class ServiceMargin:
    key: str  # product name, or item type label
    lines: int
    quantity: Decimal
    revenue: Decimal  # Σ line_total (before tax) of every line
    costed_revenue: Decimal  # Σ line_total of the lines whose cost is known
    cost: Decimal  # Σ cost × quantity of those lines

    @property
    def margin(self) -> Decimal:
        return q(self.costed_revenue - self.cost)

    @property
    def margin_share(self) -> Decimal | None:
        return share(self.margin, self.costed_revenue)

    @property
    def uncosted_revenue(self) -> Decimal:
        return q(self.revenue - self.costed_revenue)


def margins_by_service(*, period: DateRange, by: str = PRODUCT) -> list[ServiceMargin]:
    """Lines of billed invoices issued in the range, per product or per item type (service, non-inventory,
    inventory); one grouped query; largest margin first. The rows' revenue adds up to the range's subtotals."""
    if by not in (PRODUCT, TYPE):
        raise ValueError(f"margins_by_service: by must be {PRODUCT!r} or {TYPE!r}, not {by!r}")
    costed = Q(product__cost__isnull=False)
    rows = (
        InvoiceItem.objects.filter(invoice__in=invoices_billed(), invoice__issue_date__range=(period.start, period.end))
        .values("product__name" if by == PRODUCT else "product__item_type")
        .annotate(
            n_lines=Count("id"),
            qty=Sum("quantity"),
            amount=Sum("line_total"),
            costed_amount=Sum("line_total", filter=costed),
            cost_total=Sum(ExpressionWrapper(F("product__cost") * F("quantity"), output_field=COST), filter=costed),
        )
        .order_by()
    )
    labels = dict(ItemType.choices)
    found = [
        ServiceMargin(
            key=(row.get("product__name") or labels.get(row.get("product__item_type"), "")) or TYPED_LINES,
            lines=row["n_lines"],
            quantity=Decimal(row["qty"] or 0).quantize(Decimal("0.01")),
            revenue=q(row["amount"]),
            costed_revenue=q(row["costed_amount"]),
            cost=q(row["cost_total"]),
        )
        for row in rows
    ]
    return sorted(found, key=lambda m: (-m.margin, -m.revenue, m.key))
