"""`python -m tests.dst [--seeds N] [--first S]`: run many seeds of the deterministic
simulation (`make soak-sim`), print every failure and a summary; exit 1 if any failed."""

import argparse
import sys
import time

from tests.dst.simulation import describe, simulate


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.dst")
    parser.add_argument("--seeds", type=int, default=20_000)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--show", type=int, help="print one seed's history and verdict")
    args = parser.parse_args()
    if args.show is not None:
        print(describe(args.show))
        print(simulate(args.show))
        return 0
    began = time.monotonic()
    failed = alerts = 0
    for seed in range(args.first, args.first + args.seeds):
        verdict = simulate(seed)
        alerts += verdict.alerts
        if not verdict.passed:
            failed += 1
            print(verdict, flush=True)
    took = time.monotonic() - began
    print(f"{args.seeds} seeds, {failed} failed, {alerts} alerts compared, {took:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
