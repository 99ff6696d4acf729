"""Shared model pieces: timestamps and the money/quantity column shapes used across the CRM."""

from decimal import ROUND_HALF_UP, Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

# Money: 2 places (QBO amounts). Quantity and unit price keep more places, as QBO's Qty/UnitPrice do.
MONEY = {"max_digits": 12, "decimal_places": 2}
QUANTITY = {"max_digits": 14, "decimal_places": 4}
UNIT_PRICE = {"max_digits": 14, "decimal_places": 5}
# What a crack-repair business can sell, hold and charge: anything past these is a typo (a price of 4,750,000 for
# 475.00), not a deal. Kept far below the columns' own limits so a slip of the keyboard is refused with a message.
MAX_PRICE = Decimal("1000000")
MAX_QUANTITY = Decimal("100000")
MAX_CREDIT_LIMIT = Decimal("10000000")
MAX_TAX_RATE = Decimal("30")  # percent: no US sales tax comes near it


def not_negative(what: str) -> MinValueValidator:
    return MinValueValidator(Decimal(0), message=f"{what} cannot be negative.")


def at_most(limit: Decimal, what: str) -> MaxValueValidator:
    return MaxValueValidator(limit, message=f"{what} above {limit:,} is surely a typo; enter the real figure.")


def money_checks(field: str, limit: Decimal, *, name: str) -> models.CheckConstraint:
    """The database's copy of the validators: 0 ≤ field ≤ limit (or NULL), for writers that skip `full_clean`."""
    return models.CheckConstraint(
        condition=models.Q(**{f"{field}__isnull": True}) | models.Q(**{f"{field}__gte": 0, f"{field}__lte": limit}),
        name=name,
    )


# A QBO SyncToken is an integer-like string; QBO DocNumber is at most 21 characters.
SYNC_TOKEN_LENGTH = 20
DOC_NUMBER_LENGTH = 21


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


def quantize_decimal_fields(instance: models.Model) -> None:
    """Round every DecimalField of `instance` half-up to its own places before a save.

    The database must never round for us: SQLite stores Decimals as REAL and rounds half-even on read, PostgreSQL
    rounds half-up on write, so `0.125` would come back as 0.12 or 0.13 (STACK §2, RELIABILITY §D2).
    """
    for field in instance._meta.concrete_fields:
        if isinstance(field, models.DecimalField):
            value = getattr(instance, field.attname)
            if value is None:
                continue
            if isinstance(value, float):
                raise TypeError(f"{field.name}: money must be Decimal, never float")
            exponent = Decimal(1).scaleb(-field.decimal_places)
            setattr(instance, field.attname, Decimal(value).quantize(exponent, rounding=ROUND_HALF_UP))


class DecimalSafeModel(models.Model):
    """Quantizes its DecimalFields on every save (see `quantize_decimal_fields`)."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs) -> None:
        quantize_decimal_fields(self)
        super().save(*args, **kwargs)


class TimeStampedDecimalModel(DecimalSafeModel, TimeStampedModel):
    class Meta:
        abstract = True


def document_number_assign(instance: models.Model, field_name: str, prefix: str) -> None:
    """Give a saved document a number from its primary key ("Q-000042") when none was typed.

    Derived from the pk so two concurrent creates can never collide (a max()+1 would); called after the insert.
    """
    if getattr(instance, field_name):
        return
    number = f"{prefix}-{instance.pk:06d}"
    type(instance)._default_manager.filter(pk=instance.pk).update(**{field_name: number})
    setattr(instance, field_name, number)
