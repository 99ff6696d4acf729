"""`make bench`: run every benchmark in bench/ in turn; each prints its own figures.

changelist_bench.py (the admin lists at 100,000 contacts and 50,000 invoices) needs PostgreSQL: it uses the server
at BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres) for a database of its own, takes a few
minutes, and says so and is skipped when no PostgreSQL answers.
"""

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent

for script in sorted(BENCH.glob("*.py")):
    if script.name in {"run_all.py", "__init__.py"}:
        continue
    print(f"\n=== {script.name} ===", flush=True)
    subprocess.run([sys.executable, str(script)], check=True, cwd=BENCH.parent)
