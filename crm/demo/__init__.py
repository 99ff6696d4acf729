"""Attack-a-Crack demo data: deterministic generators (pure) and the loader that writes them (``load``).

The generators in this package return plain dicts and never touch the database, so the mess they produce
(phone formats, shared phones, typos, duplicates) is testable without Django and identical on every run with
the same seed and day. Only ``crm.demo.load`` imports models; ``load_demo`` is a thin caller of it.
"""

DEMO_SEED = 20261125
