"""Write/read speed of each memory image format (the format layer alone, no model).

    python bench/bench_export.py [--elems 11700000] [--layouts word=32,elem=8 word=128,elem=8]

Packs N random integers (default: the 11.7 M int8 weights of resnet18) with each layout,
writes them in every format, reads them back, checks equality and prints seconds,
MB and MB/s.  Asserts nothing beyond the round trip.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from t2c.export import EXTENSIONS, FORMATS, Layout, read_memory, write_memory

DEFAULT_LAYOUTS = ["word=32,elem=8", "word=8,elem=8", "word=128,elem=8,banks=2", "word=32,elem=4"]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--elems", type=int, default=11_700_000)
    ap.add_argument("--layouts", nargs="+", default=DEFAULT_LAYOUTS)
    ap.add_argument("--formats", nargs="+", default=list(FORMATS), choices=FORMATS)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"{args.elems:,} elements per image")
    print(f"{'layout':26s} {'fmt':4s} {'write s':>8s} {'read s':>8s} {'MB':>8s} {'write MB/s':>10s}")
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.layouts:
            lay = Layout.parse(spec)
            a = rng.integers(lay.elem_min, lay.elem_max, size=args.elems, endpoint=True, dtype=np.int64)
            for fmt in args.formats:
                path = Path(tmp) / f"m{EXTENSIONS[fmt]}"
                t0 = time.perf_counter()
                rec = write_memory(path, a, lay, fmt)
                t1 = time.perf_counter()
                back = read_memory(path, fmt, lay, a.shape)
                t2 = time.perf_counter()
                if not np.array_equal(back, a):
                    raise SystemExit(f"round trip failed: {spec} {fmt}")
                mb = sum(f["bytes"] for f in rec["files"]) / 1e6
                print(f"{spec:26s} {fmt:4s} {t1 - t0:8.2f} {t2 - t1:8.2f} {mb:8.1f} {mb / (t1 - t0):10.0f}")
                for f in rec["files"]:
                    (Path(tmp) / f["file"]).unlink()


if __name__ == "__main__":
    main()
