"""`make bench`: run every benchmark in bench/ in turn; each prints its own figures."""

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent

for script in sorted(BENCH.glob("*.py")):
    if script.name in {"run_all.py", "__init__.py"}:
        continue
    print(f"\n=== {script.name} ===", flush=True)
    subprocess.run([sys.executable, str(script)], check=True, cwd=BENCH.parent)
