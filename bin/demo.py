"""`make demo`: migrate, load the demo data, then run the web server (grows with the emulator and worker)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, check=True)


def main() -> None:
    os.environ.setdefault("DEBUG", "true")
    manage("migrate", "--noinput")
    manage("load_demo")
    print("\nAdmin: http://127.0.0.1:8000/admin/\n", flush=True)
    manage("runserver", "127.0.0.1:8000", "--noreload")


if __name__ == "__main__":
    main()
