"""The tensors alive at the fake probe's training-step peak, with the op that made each, its
shape and dtype, next to the formula's total: the tool for finding which saved tensor or
transient a formula misses (issue #12's agreement cases).

    PYTHONPATH=src python benchmarks/peak_live_set.py SPEC.archcheck.toml [--cuda] [--min 1024]
    PYTHONPATH=src python benchmarks/peak_live_set.py SPEC.archcheck.toml --moments 12

`--tick T` lists what is alive at tick T instead of the peak; `--timeline A B` every allocation
and free between ticks A and B with the live total after each. `--moments K` prints the K largest local maxima of the live-bytes curve instead (clock tick,
live bytes, the op allocated there): a formula's moment that is low shows as a maximum the
formula does not reach. Ticks count allocations and frees in order (probe/tracker.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("spec")
    ap.add_argument("--cuda", action="store_true", help="emulate the CUDA target")
    ap.add_argument("--min", type=int, default=1024, help="smallest tensor listed (bytes)")
    ap.add_argument("--moments", type=int, default=0, help="list the K largest local maxima")
    ap.add_argument("--tick", type=int, default=0, help="list what is alive at this tick")
    ap.add_argument(
        "--timeline", type=int, nargs=2, metavar=("FROM", "TO"),
        help="every allocation and free between two ticks, with the live total after each",
    )  # fmt: skip
    args = ap.parse_args()

    from pytest_archcheck.estimate import estimate
    from pytest_archcheck.probe import tracker as tr
    from pytest_archcheck.probe.step import measure
    from pytest_archcheck.spec.load import load_spec_file

    shapes: dict[tuple[int, int], tuple[tuple[int, ...], str]] = {}
    trackers: list[Any] = []
    track, init = tr.StorageTracker.track, tr.StorageTracker.__init__

    def tracking(self: Any, t: Any, op: str = "") -> int | None:
        rid = track(self, t, op)
        if rid is not None and (id(self), rid) not in shapes:
            shapes[(id(self), rid)] = (tuple(t.shape), str(t.dtype).removeprefix("torch."))
        return rid

    def remember(self: Any, *a: Any, **k: Any) -> None:
        init(self, *a, **k)
        trackers.append(self)

    tr.StorageTracker.track = tracking  # type: ignore[method-assign]
    tr.StorageTracker.__init__ = remember  # type: ignore[method-assign]
    loaded = load_spec_file(Path(args.spec).read_text(), args.spec)
    spec = loaded.spec
    if spec is None:
        sys.exit(f"{args.spec}: not a valid spec ({loaded.problems})")
    n, b = spec.train.seq_len or 1024, spec.train.batch
    m = measure(spec, "fake", n, b, emulate="cuda" if args.cuda else "cpu")
    t = trackers[-1]
    print(f"probe {m.peak_bytes:,} B at tick {t.peak_clock} of {t.clock}: {m.breakdown}")
    if args.moments or args.timeline:
        events: list[tuple[int, int, str]] = []
        for rid, r in enumerate(t.records):
            shape, dtype = shapes.get((id(t), rid), ((), "?"))
            events.append((r.alloc, r.nbytes, f"{r.op or '(param/buffer)'} {shape} {dtype}"))
            if r.free is not None:
                events.append((r.free, -r.nbytes, f"free {r.op} {shape} {dtype}"))
        events.sort()
    if args.timeline:
        live = 0
        for tick, delta, what in events:
            live += delta
            if args.timeline[0] <= tick <= args.timeline[1]:
                print(f"  tick {tick:6d} {delta:+12,d} live {live:12,d}  {what}")
    elif args.moments:
        live, curve = 0, []
        for tick, delta, op in events:
            live += delta
            curve.append((tick, live, op, delta > 0))
        maxima = [
            c for i, c in enumerate(curve)
            if c[3] and (i + 1 == len(curve) or curve[i + 1][1] < c[1])
        ]  # fmt: skip
        for tick, total, op, _ in sorted(maxima, key=lambda c: -c[1])[: args.moments]:
            print(f"  tick {tick:6d} live {total:12,d} after {op}")
    else:
        at = args.tick or t.peak_clock
        live = t.live_at(at)
        print(f"alive at tick {at}: {sum(t.records[r].nbytes for r in live):,} B")
        for rid in sorted(live, key=lambda r: t.records[r].alloc):
            rec = t.records[rid]
            if rec.nbytes >= args.min:
                shape, dtype = shapes.get((id(t), rid), ((), "?"))
                print(f"  tick {rec.alloc:6d} {rec.nbytes:10,d} {rec.op or '(param/buffer)':28s}"
                      f" {shape} {dtype}")  # fmt: skip
    mem = estimate(spec, n).memory
    total = mem.total if mem is not None else None
    print(f"formula {total:,} B ({(total - m.peak_bytes) / m.peak_bytes:+.2%})" if total else
          "formula: refused")  # fmt: skip


if __name__ == "__main__":
    main()
