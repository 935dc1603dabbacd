"""Speed and memory figures for the cssim engine, measured in one run.

Builds a 10,000-customer, 90-day book with 5 reps from the shape of
``scenarios/quickstart.yaml`` and prints one table:

1. wall time of one replication (median and min) and of its KPI computation;
2. SimPy events per second in the engine beside a bare SimPy timeout loop;
3. customer-days per second of daily tier moves beside a pure-numpy loop;
4. peak traced memory of one replication and the process's max RSS;
5. wall time of 20 replications with one worker and with two.

Run from the repository root::

    python benchmarks/engine_speed.py          # full repeats
    python benchmarks/engine_speed.py --quick  # fewer repeats, a rough look

Figures from a shared machine are noisy; ratios taken within one run are the
ones to compare against the targets.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import resource
import statistics
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import simpy

from cssim.engine import OutreachProgram, simulate
from cssim.kpi import compute_kpis
from cssim.replications import months_in, run_replications
from cssim.scenario import Scenario
from cssim.scenario_file import load_scenario, scenario_from_dict
from cssim.tier import step_tiers

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"
SEED = 7

TARGET_REPLICATION_S = 0.5
TARGET_EVENT_RATIO = 2.0
TARGET_TIER_SHARE = 0.5


def build_scenario(smb: int = 8000, enterprise: int = 2000, reps: int = 5) -> Scenario:
    """Quickstart's segments, methods and policy on a bigger book and team."""
    raw = load_scenario(QUICKSTART).model_dump(mode="json")
    raw["name"] = "benchmark"
    raw["segments"]["smb"]["customers"] = smb
    raw["segments"]["enterprise"]["customers"] = enterprise
    raw["reps"] = [{"name": "csm", "count": reps, "weekly_hours": 40,
                    "shrinkage": 0.2}]
    return scenario_from_dict(raw, source="benchmark scenario")


def seed_for(replication: int = 0) -> np.random.SeedSequence:
    """The seed sequence ``run_replications`` gives replication ``replication``."""
    return np.random.SeedSequence(SEED, spawn_key=(replication,))


def timed(action: Callable[[], object], repeats: int) -> tuple[list[float], object]:
    """Wall times of ``repeats`` calls, and the last call's result."""
    times, result = [], None
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - start)
    return times, result


class EventCounter:
    """Counts events scheduled and processed by every SimPy environment.

    Wraps ``simpy.Environment.schedule`` and ``step`` while active; the
    wrappers cost time, so counted runs are never the timed ones.
    """

    def __init__(self) -> None:
        self.scheduled = 0
        self.processed = 0

    def __enter__(self) -> EventCounter:
        self._schedule = simpy.Environment.schedule
        self._step = simpy.Environment.step
        original_schedule, original_step = self._schedule, self._step

        def schedule(env, event, priority=1, delay=0):
            self.scheduled += 1
            return original_schedule(env, event, priority, delay)

        def step(env):
            self.processed += 1
            return original_step(env)

        simpy.Environment.schedule = schedule
        simpy.Environment.step = step
        return self

    def __exit__(self, *exc) -> None:
        simpy.Environment.schedule = self._schedule
        simpy.Environment.step = self._step


def engine_loop_time(scenario: Scenario) -> tuple[float, float]:
    """Seconds inside ``env.run`` for one replication, and its whole wall time."""
    gc.collect()
    start = time.perf_counter()
    program = OutreachProgram(scenario, seed_for())
    original_run = program.env.run
    spent = []

    def run(*args, **kwargs):
        begin = time.perf_counter()
        try:
            return original_run(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - begin)

    program.env.run = run
    program.run()
    return spent[0], time.perf_counter() - start


def bare_loop(events: int, processes: int) -> float:
    """Seconds for ``processes`` SimPy processes yielding ``timeout(1)`` in turn."""
    env = simpy.Environment()
    each = events // processes

    def ticker(offset: float):
        yield env.timeout(offset)
        for _ in range(each):
            yield env.timeout(1)

    for index in range(processes):
        env.process(ticker(index / processes))
    gc.collect()
    start = time.perf_counter()
    env.run()
    return time.perf_counter() - start


def per_event(action: Callable[[], float], repeats: int,
              counted: Callable[[], object]) -> tuple[float, int]:
    """Median seconds per processed event, and the number of events."""
    with EventCounter() as counter:
        counted()
    times = [action() for _ in range(repeats)]
    return statistics.median(times) / counter.processed, counter.processed


def numpy_tier_loop(tier: np.ndarray, segment: np.ndarray, engaged_until: np.ndarray,
                    cumulative: np.ndarray, rng: np.random.Generator,
                    days: int) -> tuple[float, np.ndarray]:
    """The daily tier step written directly in numpy: seconds and final tiers."""
    width = cumulative.shape[-1]
    cutoffs = cumulative[:, :, :-1].reshape(-1, width - 1)
    base = segment.astype(np.intp) * (2 * width)
    tier = tier.copy()
    gc.collect()
    start = time.perf_counter()
    for day in range(1, days + 1):
        row = base + (engaged_until >= day) * width + tier
        uniforms = rng.random(len(tier))
        tier = (uniforms[:, None] >= cutoffs[row]).sum(axis=1, dtype=np.int8)
    return time.perf_counter() - start, tier


def check_same_step(program: OutreachProgram) -> None:
    """Fail loudly if the direct loop and the engine's step disagree on one day."""
    book = program.book
    uniforms = np.random.default_rng(0).random(len(book))
    group = book.segment.astype(np.intp) * 2 + (program.engaged_until >= 1)
    expected = step_tiers(book.tier, program.cumulative, group, uniforms)
    width = program.cumulative.shape[-1]
    cutoffs = program.cumulative[:, :, :-1].reshape(-1, width - 1)
    row = group * width + book.tier
    direct = (uniforms[:, None] >= cutoffs[row]).sum(axis=1, dtype=np.int8)
    if not np.array_equal(direct, expected):
        raise SystemExit("the direct numpy tier step disagrees with step_tiers")


def engine_tier_loop(program: OutreachProgram, days: int) -> float:
    """Seconds for ``days`` calls of the engine's own daily tier move."""
    gc.collect()
    start = time.perf_counter()
    for day in range(1, days + 1):
        program._move_tiers(day)
    return time.perf_counter() - start


def machine() -> str:
    """One line about the machine and the library versions."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{platform.machine()} {platform.system()}, {os.cpu_count()} cores "
            f"({usable} usable), load {load}; Python {platform.python_version()}, "
            f"numpy {np.__version__}, pandas {pd.__version__}, "
            f"simpy {simpy.__version__}")


def verdict(ok: bool) -> str:
    """PASS or MISS."""
    return "PASS" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    """Measure everything and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer repeats and replications")
    parser.add_argument("--replications", type=int, default=None,
                        help="replications for the worker comparison (default 20)")
    args = parser.parse_args(argv)
    repeats = 2 if args.quick else 5
    replications = args.replications or (6 if args.quick else 20)
    bare_events = 100_000 if args.quick else 300_000
    tier_days = 180 if args.quick else 720

    scenario = build_scenario()
    rows: list[tuple[str, str, str, str]] = []
    print(machine())
    print(f"book: {sum(s.customers for s in scenario.segments.values()):,} customers, "
          f"{scenario.horizon_days} days, "
          f"{sum(r.count for r in scenario.reps)} reps; repeats {repeats}")

    # 1. one replication, then its KPIs
    simulate(scenario, seed_for())
    times, (output, _) = timed(lambda: simulate(scenario, seed_for()), repeats)
    touches = len(output.log)
    median = statistics.median(times)
    rows.append(("1. one replication, median (s)", f"{median:.3f}",
                 f"<= {TARGET_REPLICATION_S}",
                 verdict(median <= TARGET_REPLICATION_S)))
    rows.append(("   one replication, min (s)", f"{min(times):.3f}",
                 f"<= {TARGET_REPLICATION_S}",
                 verdict(min(times) <= TARGET_REPLICATION_S)))
    rows.append(("   touches in the replication", f"{touches:,}", "", ""))
    kpi_times, _ = timed(lambda: compute_kpis(
        output.log, output.snapshots, output.start, months_in(scenario),
        due=output.due, rep_days=output.rep_days,
    ), repeats)
    rows.append(("   KPI computation, median (s)",
                 f"{statistics.median(kpi_times):.3f}", "", ""))
    print("1. done: replication and KPIs")

    # 2. events per second: engine against bare timeout loops
    loop_times = []
    walls = []
    for _ in range(repeats):
        loop, wall = engine_loop_time(scenario)
        loop_times.append(loop)
        walls.append(wall)
    with EventCounter() as counter:
        OutreachProgram(scenario, seed_for()).run()
    engine_events = counter.processed
    engine_loop = statistics.median(loop_times)
    engine_per_event = engine_loop / engine_events
    bare_one, _ = per_event(lambda: bare_loop(bare_events, 1), repeats,
                            lambda: bare_loop(bare_events, 1))
    bare_many, _ = per_event(lambda: bare_loop(bare_events, 10), repeats,
                             lambda: bare_loop(bare_events, 10))
    ratio_one = engine_per_event / bare_one
    ratio_many = engine_per_event / bare_many
    rows.append(("2. engine events (processed / scheduled)",
                 f"{engine_events:,} / {counter.scheduled:,}", "", ""))
    rows.append(("   engine env.run time, median (s)", f"{engine_loop:.3f}",
                 "", ""))
    rows.append(("   setup + output outside env.run (s)",
                 f"{statistics.median(walls) - engine_loop:.3f}", "", ""))
    rows.append(("   engine events/s", f"{1 / engine_per_event:,.0f}", "", ""))
    rows.append(("   bare loop events/s, 1 process", f"{1 / bare_one:,.0f}", "", ""))
    rows.append(("   bare loop events/s, 10 processes", f"{1 / bare_many:,.0f}",
                 "", ""))
    rows.append(("   time/event ratio vs 1 process", f"{ratio_one:.1f}x",
                 f"<= {TARGET_EVENT_RATIO:g}x",
                 verdict(ratio_one <= TARGET_EVENT_RATIO)))
    rows.append(("   time/event ratio vs 10 processes", f"{ratio_many:.1f}x",
                 f"<= {TARGET_EVENT_RATIO:g}x",
                 verdict(ratio_many <= TARGET_EVENT_RATIO)))
    print("2. done: events per second")

    # 3. tier moves: the engine's step against a direct numpy loop
    program = OutreachProgram(scenario, seed_for())
    start_tiers = program.book.tier.copy()
    program.engaged_until[::7] = 45.0
    check_same_step(program)
    customers = len(start_tiers)
    engine_rates, numpy_rates = [], []
    for trial in range(repeats):
        program.book.tier = start_tiers.copy()
        seconds = engine_tier_loop(program, tier_days)
        engine_rates.append(customers * tier_days / seconds)
        seconds, _ = numpy_tier_loop(start_tiers, program.book.segment,
                                     program.engaged_until, program.cumulative,
                                     np.random.default_rng(trial), tier_days)
        numpy_rates.append(customers * tier_days / seconds)
    engine_rate = statistics.median(engine_rates)
    numpy_rate = statistics.median(numpy_rates)
    share = engine_rate / numpy_rate
    rows.append(("3. tier moves, engine (customer-days/s)", f"{engine_rate:,.0f}",
                 "", ""))
    rows.append(("   tier moves, direct numpy (customer-days/s)",
                 f"{numpy_rate:,.0f}", "", ""))
    rows.append(("   engine / numpy rate", f"{share:.2f}",
                 f">= {TARGET_TIER_SHARE:g}", verdict(share >= TARGET_TIER_SHARE)))
    print("3. done: tier moves")

    # 4. memory
    gc.collect()
    tracemalloc.start()
    simulate(scenario, seed_for())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss_mib = max_rss / 1024 if sys.platform != "darwin" else max_rss / 2**20
    rows.append(("4. traced peak, one replication (MiB)", f"{peak / 2**20:.1f}",
                 "", ""))
    rows.append(("   process max RSS so far (MiB)", f"{rss_mib:.1f}", "", ""))
    print("4. done: memory")

    # 5. many replications on one worker and on two
    walls_by_workers = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for workers in (1, 2):
            gc.collect()
            start = time.perf_counter()
            run_replications(scenario, replications=replications, seed=SEED,
                             workers=workers)
            walls_by_workers[workers] = time.perf_counter() - start
            print(f"5. done: {replications} replications on {workers} worker(s)")
    speedup = walls_by_workers[1] / walls_by_workers[2]
    rows.append((f"5. {replications} replications, 1 worker (s)",
                 f"{walls_by_workers[1]:.2f}", "", ""))
    rows.append((f"   {replications} replications, 2 workers (s)",
                 f"{walls_by_workers[2]:.2f}", "", ""))
    rows.append(("   speed-up with 2 workers", f"{speedup:.2f}x", "", ""))

    print()
    print(machine())
    print_table(rows)
    return 0


def print_table(rows: list[tuple[str, str, str, str]]) -> None:
    """Figures in aligned columns."""
    header = ("figure", "measured", "target", "")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    line = "  ".join("-" * width for width in widths)
    print(f"{header[0]:<{widths[0]}}  {header[1]:>{widths[1]}}  "
          f"{header[2]:<{widths[2]}}".rstrip())
    print(line)
    for name, value, target, status in rows:
        print(f"{name:<{widths[0]}}  {value:>{widths[1]}}  "
              f"{target:<{widths[2]}}  {status}".rstrip())


if __name__ == "__main__":
    sys.exit(main())
