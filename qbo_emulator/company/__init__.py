"""`Company`: the operations on one realm, assembled from one module per entity family.

- `core`: storage, stamping, change log, read/create/update/delete, input checks and the derivation dispatch
- `parties`: Customer, Vendor, Employee (DisplayName namespace, jobs) and the Name rules every names list shares
- `lists`: Item, Term, Account
- `sales`: Estimate and Invoice lines, discounts, tax and header defaults
- `documents`: DocNumbers, invoice due dates and links, void and send
- `payments`: Payment, invoice balances and customer balances
- `links`: indexes and the follow-on changes a transaction write makes to other objects

Which entity belongs to which family is in the facts table (`qbo_emulator/facts.py`).
"""

from .core import CompanyCore
from .documents import DocumentsMixin
from .links import LinksMixin
from .lists import ListsMixin
from .parties import PartiesMixin
from .payments import PaymentsMixin
from .sales import SalesMixin

__all__ = ["Company"]


class Company(CompanyCore, PartiesMixin, ListsMixin, SalesMixin, DocumentsMixin, PaymentsMixin, LinksMixin):
    """Operations on one realm; callers hold `realm.lock`.

    `seeding=True` loads history: no change log, keeps the given Ids and MetaData."""
