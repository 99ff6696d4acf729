"""The initial sync queued after connecting: CompanyInfo into the ledger, item and customer counts, then the
customers and items imports queued (so after Connect the contacts get linked without anyone asking).

It is the first user of the run pattern (services/runs.py) and shows its shape: each step is committed with a
checkpoint, so a rerun after a crash continues at the next step. The customers and sales issues add their own
kinds (full imports in pages, CDC) the same way.
"""

from __future__ import annotations

from django.db import transaction

from .. import conf
from ..models import QuickBooksAuth
from ..qbo.client import qbo_count, qbo_read_company_info
from .mirror import mirror_apply
from .runs import RunContext, sync_kind_register, sync_run_enqueue

INITIAL = "initial"
COUNTED = ("Item", "Customer")
# Customers first (matching is what the bookkeeper waits for), then products, then the documents naming them.
AFTER_CONNECT = ("customers", "items", "estimates", "invoices", "payments")


@sync_kind_register(INITIAL)
def sync_initial(run: RunContext) -> None:
    """Read CompanyInfo (kept in the ledger, name on the connection), then `COUNT(*)` items and customers."""
    connection = run.connection
    step = int(run.cursor.get("step", 0))
    if step == 0:
        info = qbo_read_company_info(connection=connection)
        with transaction.atomic():
            mirror_apply(connection=connection, entity_type="CompanyInfo", rows=[info])
            if info.get("CompanyName"):
                QuickBooksAuth.objects.filter(pk=connection.pk).update(company_name=info["CompanyName"])
            stats = {**run.stats, "company_name": info.get("CompanyName", "")}
            run.checkpoint(cursor={"step": 1}, stats=stats, progress=f"step 1 of {1 + len(COUNTED)}")
        step = 1
    for index, entity in enumerate(COUNTED[step - 1 :], start=step):
        count = qbo_count(connection=connection, entity=entity)
        stats = {**run.stats, f"{entity.lower()}_count": count}
        run.checkpoint(cursor={"step": index + 1}, stats=stats, progress=f"step {index + 1} of {1 + len(COUNTED)}")
    if conf.sync_after_connect():
        with transaction.atomic():  # queued on commit; at worst twice after a crash here, and a second run is CDC
            for kind in AFTER_CONNECT:
                sync_run_enqueue(connection_id=connection.pk, kind=kind)
