"""Payment prediction: the chance each open invoice is paid late, from its customer's own record, and the same
model back-tested on the history so the page can show how often it is right.

The model (docs/analytics.md) is a smoothed late rate. On day D, the customer's record is what was known then:
an invoice is known late once its due date has passed unpaid (due < D, and not paid off by its due date, whenever
that was), known on time once paid off by its due date (paid ≤ D). With L late out of K known,

    P(late) = (L + α·p₀) / (K + α)

where p₀ is the late rate of every known invoice and α = PRIOR_WEIGHT: a new customer gets p₀, and each known
invoice pulls the estimate towards the customer's own rate. An invoice is predicted late when P ≥ 0.5.
The back-test predicts every invoice of the range whose outcome is known, from what was known on its own date
(its own outcome never included), and compares. L and K are correlated counts in SQL, and the back-test groups
invoices by (L, K, outcome), so it is one query whatever the number of invoices.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Case, Count, F, FloatField, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Cast, Coalesce, Round

from crm.money import q

from .common import DateRange, contact_names, invoices_billed, share

PRIOR_WEIGHT = Decimal(2)
LATE_AT = Decimal("0.5")
PROBABILITY = Decimal("0.001")


def _with_due(qs: QuerySet) -> QuerySet:
    return qs.annotate(due=Coalesce("due_date", "issue_date"))


def _known_late(day) -> Q:
    return Q(due__lt=day) & (Q(paid_date__isnull=True) | Q(paid_date__gt=F("due")))


def _known_on_time(day) -> Q:
    return Q(paid_date__lte=day) & Q(paid_date__lte=F("due"))


def _count(qs: QuerySet) -> Coalesce:
    counted = qs.order_by().values("contact_id").annotate(n=Count("id")).values("n")[:1]
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _record(day) -> dict:
    """Annotations `late_n` and `known_n`: the other invoices of the row's customer known late / known at all on
    `day` (an expression: the row's own date for the back-test, a fixed day for the open invoices)."""
    others = _with_due(invoices_billed().filter(contact_id=OuterRef("contact_id"), total_amount__gt=0)).exclude(
        pk=OuterRef("pk")
    )
    return {
        "late_n": _count(others.filter(_known_late(day))),
        "known_n": _count(others.filter(_known_late(day) | _known_on_time(day))),
    }


def base_late_rate(*, as_of: datetime.date) -> Decimal:
    """p₀: the share of invoices with a known outcome on `as_of` that were late (0.5 when none is known yet)."""
    known = _with_due(invoices_billed().filter(total_amount__gt=0, issue_date__lte=as_of))
    counts = known.aggregate(
        late=Count("id", filter=_known_late(as_of)),
        known=Count("id", filter=_known_late(as_of) | _known_on_time(as_of)),
    )
    return (Decimal(counts["late"]) / counts["known"]).quantize(PROBABILITY) if counts["known"] else LATE_AT


def late_probability(*, late: int, known: int, base_rate: Decimal) -> Decimal:
    """The model: (L + α·p₀) / (K + α)."""
    return ((late + PRIOR_WEIGHT * base_rate) / (known + PRIOR_WEIGHT)).quantize(PROBABILITY)


@dataclass(frozen=True)
class LatePrediction:
    invoice_id: int
    invoice_number: str
    contact_id: int
    name: str
    issue_date: datetime.date
    due_date: datetime.date | None
    balance_due: Decimal
    late_known: int
    known: int
    probability: Decimal  # 0–1
    overdue: bool  # already past due today: late for certain, the probability says how the customer usually pays

    @property
    def predicted_late(self) -> bool:
        return self.probability >= LATE_AT


FIELDS = ("pk", "invoice_number", "contact_id", "issue_date", "due_date", "due", "balance_due", "late_n", "known_n")


def open_invoice_predictions(*, as_of: datetime.date, limit: int | None = None) -> list[LatePrediction]:
    """Every open invoice (billed, balance due) with its chance of being paid late, most likely late first (then
    the larger balance). With `limit`, the database ranks by the same formula and returns only those rows."""
    base = base_late_rate(as_of=as_of)
    rows = _with_due(invoices_billed().filter(balance_due__gt=0, total_amount__gt=0, issue_date__lte=as_of)).annotate(
        **_record(Value(as_of))
    )
    if limit is not None:
        chance = (Cast("late_n", FloatField()) + float(PRIOR_WEIGHT * base)) / (
            Cast("known_n", FloatField()) + float(PRIOR_WEIGHT)
        )
        rows = rows.annotate(chance=Round(chance, 3)).order_by("-chance", "-balance_due", "pk")[:limit]
    rows = list(rows.values(*FIELDS))
    names = contact_names(row["contact_id"] for row in rows)
    found = [
        LatePrediction(
            invoice_id=row["pk"],
            invoice_number=row["invoice_number"] or f"Invoice #{row['pk']}",
            contact_id=row["contact_id"],
            name=names.get(row["contact_id"], ""),
            issue_date=row["issue_date"],
            due_date=row["due_date"],
            balance_due=q(row["balance_due"]),
            late_known=row["late_n"],
            known=row["known_n"],
            probability=late_probability(late=row["late_n"], known=row["known_n"], base_rate=base),
            overdue=row["due"] < as_of,
        )
        for row in rows
    ]
    found.sort(key=lambda p: (-p.probability, -p.balance_due, p.invoice_id))
    return found


def open_invoices_count(*, as_of: datetime.date) -> int:
    return invoices_billed().filter(balance_due__gt=0, total_amount__gt=0, issue_date__lte=as_of).count()


@dataclass(frozen=True)
class CalibrationBand:
    label: str
    invoices: int
    predicted: Decimal  # mean predicted probability, percent
    actual: Decimal | None  # share actually late, percent


@dataclass(frozen=True)
class BackTest:
    base_rate: Decimal
    invoices: int
    correct: int
    true_late: int  # predicted late, was late
    false_late: int  # predicted late, was on time
    true_on_time: int
    false_on_time: int  # predicted on time, was late
    brier: Decimal | None  # mean squared error of the probability: 0 is perfect, 0.25 is a coin
    calibration: list[CalibrationBand]

    @property
    def accuracy(self) -> Decimal | None:
        return share(self.correct, self.invoices)

    @property
    def baseline_accuracy(self) -> Decimal | None:
        """Always guessing the more common outcome: what the model must beat to be worth showing."""
        late = self.true_late + self.false_on_time
        return share(max(late, self.invoices - late), self.invoices)


CALIBRATION = ((Decimal("0.25"), "under 25%"), (Decimal("0.5"), "25–50%"), (Decimal("0.75"), "50–75%"),
               (Decimal("1.01"), "75% and over"))  # fmt: skip


def payment_backtest(*, period: DateRange, as_of: datetime.date) -> BackTest:
    """Predict each invoice of `period` whose outcome is known on `as_of` from what was known on its own date."""
    base = base_late_rate(as_of=as_of)
    targets = _with_due(
        invoices_billed().filter(total_amount__gt=0, issue_date__range=(period.start, min(period.end, as_of)))
    ).filter(Q(paid_date__lte=as_of) | Q(due__lt=as_of))
    late = Case(
        When(Q(paid_date__isnull=False) & Q(paid_date__gt=F("due")), then=Value(1)),
        When(Q(paid_date__isnull=True) & Q(due__lt=as_of), then=Value(1)),
        default=Value(0),
        output_field=IntegerField(),
    )
    groups = (
        targets.annotate(**_record(OuterRef("issue_date")), late=late)
        .values("late_n", "known_n", "late")
        .annotate(n=Count("id"))
        .order_by()
    )
    tallies = {"tl": 0, "fl": 0, "to": 0, "fo": 0}
    squared, count = Decimal(0), 0
    bands = {label: [0, Decimal(0), 0] for _, label in CALIBRATION}
    for row in groups:
        p = late_probability(late=row["late_n"], known=row["known_n"], base_rate=base)
        was_late, n = row["late"] == 1, row["n"]
        said_late = p >= LATE_AT
        key = ("tl" if was_late else "fl") if said_late else ("fo" if was_late else "to")
        tallies[key] += n
        squared += n * (p - (1 if was_late else 0)) ** 2
        count += n
        label = next(label for upper, label in CALIBRATION if p < upper)
        bands[label][0] += n
        bands[label][1] += n * p
        bands[label][2] += n if was_late else 0
    return BackTest(
        base_rate=base,
        invoices=count,
        correct=tallies["tl"] + tallies["to"],
        true_late=tallies["tl"],
        false_late=tallies["fl"],
        true_on_time=tallies["to"],
        false_on_time=tallies["fo"],
        brier=(squared / count).quantize(PROBABILITY) if count else None,
        calibration=[
            CalibrationBand(
                label=label,
                invoices=n,
                predicted=share(total_p, n) if n else Decimal(0),
                actual=share(late_n, n),
            )
            for label, (n, total_p, late_n) in bands.items()
        ],
    )
