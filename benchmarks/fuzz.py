#!/usr/bin/env python3
"""The long mutation-fuzz run: real captures, mutated, through the whole of sipwatch.

    python3 benchmarks/fuzz.py --seconds 600             # ten minutes, random seed
    python3 benchmarks/fuzz.py --seconds 60 --seed 7     # reproducible
    python3 benchmarks/fuzz.py --replay benchmarks/out/crashes/payload-0123abcd4567.pcap

The engine is ``tests/fuzzing.py`` (the CI test ``tests/test_fuzz.py`` runs a short, fixed
slice of it). Each case is a capture file built by one strategy (file bytes, frames, transport
payloads, IP fragments, extreme timestamps) from a real capture, run through the reader, the
pipeline and both renderers under a per-case time bound. A case that raises, hangs, lets a
control character reach the terminal, or prints JSON lines whose counts disagree is saved as
``benchmarks/out/crashes/<strategy>-<sha1>.pcap`` with a ``.txt`` beside it saying what went wrong;
``sipwatch pcap`` on the saved file replays it. At the end the run prints the cases run, cases per
second, outcomes per strategy, and the failures (exit status 1 if there were any).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from tests.fuzzing import (  # noqa: E402 - the repository root is put on the path first
    STRATEGIES,
    Outcome,
    capture_paths,
    case_name,
    fuzz,
    load_seeds,
    run_case,
)

PUBLIC = REPO.parent / "shared" / "captures" / "public"
CRASHES = HERE / "out" / "crashes"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="how long to run")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: time)")
    parser.add_argument(
        "--strategy", action="append", choices=STRATEGIES, help="only these (repeatable)"
    )
    parser.add_argument("--case-seconds", type=float, default=20.0, help="time bound per case")
    parser.add_argument("--out", type=Path, default=CRASHES, help="where failing inputs go")
    parser.add_argument("--replay", type=Path, help="run one saved case and report it")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="sipwatch-fuzz-") as tmp:
        if args.replay is not None:
            outcome = run_case(args.replay.read_bytes(), Path(tmp) / "case.pcap", args.case_seconds)
            print(f"{args.replay}: {outcome.status}\n{outcome.detail}")
            return 1 if outcome.failed else 0
        seed = args.seed if args.seed is not None else int(time.time())
        paths = capture_paths(PUBLIC, REPO / "captures")
        if not paths:
            print("no seed captures found", file=sys.stderr)
            return 2
        seeds = load_seeds(paths)
        strategies = tuple(args.strategy or STRATEGIES)
        print(f"seed {seed}: {len(seeds)} captures, strategies {', '.join(strategies)}")
        results: Counter[tuple[str, str]] = Counter()
        slowest: list[tuple[float, str]] = []

        def count(strategy: str, outcome: Outcome) -> None:
            results[strategy, outcome.status] += 1
            slowest.append((outcome.seconds, strategy))
            slowest.sort(reverse=True)
            del slowest[5:]

        start = time.monotonic()
        deadline = start + args.seconds
        failures = fuzz(
            seeds,
            Path(tmp),
            rng=random.Random(seed),
            until=lambda: time.monotonic() >= deadline,
            strategies=strategies,
            seconds_per_case=args.case_seconds,
            on_result=count,
        )
        elapsed = time.monotonic() - start

    total = sum(results.values())
    print(f"{total} cases in {elapsed:.1f} s: {total / elapsed:.1f} cases/s")
    for strategy in strategies:
        row = {status: n for (s, status), n in sorted(results.items()) if s == strategy}
        print(f"  {strategy:<10} {row}")
    print("slowest cases: " + ", ".join(f"{secs:.2f} s ({strategy})" for secs, strategy in slowest))
    if failures:
        args.out.mkdir(parents=True, exist_ok=True)
    for failure in failures:
        name = case_name(failure.strategy, failure.data)
        (args.out / f"{name}.pcap").write_bytes(failure.data)
        (args.out / f"{name}.txt").write_text(
            f"{failure.outcome.status} (strategy {failure.strategy}, from {failure.seed})\n"
            f"{failure.outcome.detail}\n"
        )
        first = failure.outcome.detail.strip().splitlines()[-1:] or [""]
        print(f"FAIL {failure.outcome.status}: {args.out / name}.pcap: {first[0]}")
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
