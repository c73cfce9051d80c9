"""What Powertools' HTTP resolver would add to a cold start, beside our own routing (`api.app.routing`).

Each import runs in a fresh interpreter (`-X importtime` is not used: it slows what it measures),
taking turns, and the median of the wall-clock times of the import statement alone is reported:

    python bench/router_import.py --powertools DIR [--python PYTHON] [--runs 21]

DIR is a folder holding `aws-lambda-powertools` and the bundle's own packages (`pip install --target
DIR aws-lambda-powertools -r api/requirements.txt` with that Python); it is never installed into the
project. PYTHON defaults to this interpreter; Lambda runs CPython 3.12.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESOLVER = "aws_lambda_powertools.event_handler import APIGatewayHttpResolver"
CASES = {
    "our whole handler, routing included (api.handler)": "import api.handler",
    "Powertools' resolver alone": f"from {RESOLVER}",
    "our handler, then Powertools' resolver beside it": f"import api.handler; from {RESOLVER}",
}
TIMER = "import time; t = time.perf_counter(); {statement}; print((time.perf_counter() - t) * 1000)"


def time_import(python: str, statement: str, path: str) -> float:
    """Milliseconds one fresh interpreter spends on `statement`."""
    env = {**os.environ, "PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "0"}
    out = subprocess.run(
        [python, "-c", TIMER.format(statement=statement)], env=env, cwd=REPO, check=True, capture_output=True, text=True
    ).stdout
    return float(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--powertools", required=True, help="folder holding aws-lambda-powertools")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    path = os.pathsep.join([str(REPO), args.powertools])
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for statement in CASES.values():
        time_import(args.python, statement, path)  # bytecode compiled once, outside the timing
    for _ in range(args.runs):
        for name, statement in CASES.items():
            times[name].append(time_import(args.python, statement, path))
    print(f"| import ({Path(args.python).name}, median of {args.runs} fresh processes) | ms |")
    print("| --- | ---: |")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.1f} |")
    handler, both = (statistics.median(times[name]) for name in list(CASES)[::2])
    print(f"\nPowertools' resolver adds {both - handler:.1f} ms to the handler's import ({both / handler:.2f}x).")


if __name__ == "__main__":
    main()
