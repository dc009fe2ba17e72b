"""`make bench`: run every benchmark in turn and print their figures."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ("fetch.py", "cache.py", "bridge.py", "score.py", "portfolio.py", "api.py", "live.py", "pipeline.py",
           "research.py")


def main() -> int:
    """Run each benchmark script with this interpreter; return non-zero if one failed."""
    failed = []
    for name in SCRIPTS:
        path = HERE / name
        if not path.exists():
            continue
        print(f"\n== bench/{name} ==", flush=True)
        if subprocess.run([sys.executable, str(path)], cwd=HERE.parent).returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
