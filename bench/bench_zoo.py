"""The model-zoo coverage table: docs/models.md.

Every entry of ``t2c.zoo.ZOO`` at each of its input sizes, W8A8 per-channel (and W4A4 for
the ``--w4`` models): converted with seeded random weights and seeded random calibration
inputs (``t2c.pipeline.prepare``), then measured by ``t2c.zoo.measure`` over 32 seeded random
inputs: the op kinds used, layers, convert time, integer-run time per image against the float
forward, top-1 agreement between the integer graph and the fake-quant QModel, the ops without
an RTL unit.

    python bench/bench_zoo.py                       # everything (about an hour on 2 cores)
    python bench/bench_zoo.py --sizes 64 --only swin --results /tmp/zoo.jsonl
    python bench/bench_zoo.py --render /tmp/zoo.jsonl   # the markdown from saved rows

Rows are appended to ``--results`` (JSON lines) as they are measured; the table is written to
``--out`` (default docs/models.md, between the generated-table markers) and printed.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from t2c import QConfig  # noqa: E402
from t2c.zoo import ZOO, measure, spec_at  # noqa: E402

from machine import machine  # noqa: E402

W4_MODELS = ("torchvision:mobilenet_v3_small", "torchvision:shufflenet_v2_x0_5", "torchvision:squeezenet1_0",
             "torchvision:efficientnet_b0", "torchvision:swin_t", "timm:regnetx_002", "torchvision:densenet121")
BEGIN, END = "<!-- bench_zoo: begin -->", "<!-- bench_zoo: end -->"


def table(rows: list[dict]) -> str:
    head = ("| model | input | config | layers | ops | convert s | integer ms/img | float ms/img | "
            "top-1 agreement | classes | logit codes equal | no RTL unit yet |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for r in rows:
        if "error" in r:
            lines.append(f"| `{r['spec']}` | {r['size']} | {r['config']} | | | | | | **failed: {r['error']}** | | | |")
            continue
        tie = f" ({r['ties']} tie{'s' if r['ties'] != 1 else ''})" if r.get("ties") else ""
        lines.append(
            f"| `{r['spec']}` | {r['size']} | {r['config']} | {r['layers']} | {', '.join(r['ops'])} | "
            f"{r['convert_s']:.1f} | {r['int_ms']:.0f} | {r['float_ms']:.0f} | "
            f"{r['agreement']:.1f}% ({round(r['agreement'] * r['n'] / 100)}/{r['n']}){tie} | {r['classes']} | "
            f"{r['codes_equal']:.0f}% | {', '.join(r['no_rtl']) or '-'} |")
    return head + "\n".join(lines) + "\n"


def render(rows: list[dict], header: str) -> str:
    return f"{BEGIN}\n{header}\n\n{table(rows)}{END}\n"


def write_doc(out: Path, block: str) -> None:
    text = out.read_text() if out.exists() else ""
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END) + 1:]
    else:
        text = text + ("\n" if text else "") + block
    out.write_text(text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", help="only these input sizes")
    ap.add_argument("--only", nargs="*", help="only specs containing one of these strings")
    ap.add_argument("--results", default=str(ROOT / "build" / "bench_zoo.jsonl"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "models.md"))
    ap.add_argument("--render", help="render the table from a results file and stop")
    ap.add_argument("--n", type=int, default=32, help="agreement inputs per model")
    ap.add_argument("--no-w4", action="store_true")
    ap.add_argument("--part", default="1/1", help="K/N: every N-th job from the K-th (parallel runs)")
    args = ap.parse_args(argv)
    header = (f"Measured by `python bench/bench_zoo.py` on {machine()}, "
              f"{datetime.date.today().isoformat()}.")
    if args.render:
        rows = {}
        for line in Path(args.render).read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                rows[(r["spec"], r["size"], r["config"])] = r  # the last measurement of each
        order = {spec_at(e, size): i for i, e in enumerate(ZOO) for size in e.sizes}
        rows = sorted(rows.values(), key=lambda r: (order.get(r["spec"], len(order)), r["size"],
                                                    r["config"] != "W8A8", r["config"]))
        block = render(rows, header)
        write_doc(Path(args.out), block)
        print(block)
        return 0
    warnings.filterwarnings("ignore")
    results = Path(args.results)
    results.parent.mkdir(parents=True, exist_ok=True)
    jobs = []
    for e in ZOO:
        if args.only and not any(o in e.spec for o in args.only):
            continue
        for size in e.sizes:
            if args.sizes and size not in args.sizes:
                continue
            jobs.append((spec_at(e, size), size, QConfig()))
            if not args.no_w4 and e.spec in W4_MODELS and size == min(e.sizes):
                jobs.append((spec_at(e, size), size, QConfig(wbit=4, abit=4)))
    done = {}
    if results.exists():  # resume: rows measured before are kept
        for line in results.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                done[(r["spec"], r["size"], r["config"])] = r
    k, parts = (int(v) for v in args.part.split("/"))
    rows = []
    for i, (spec, size, config) in enumerate(jobs):
        key = (spec, size, f"W{config.wbit}A{config.abit}")
        if key in done:
            rows.append(done[key])
            continue
        if i % parts != k - 1:
            continue
        try:
            row = dataclasses.asdict(measure(spec, size, config, n=args.n))
        except Exception as ex:  # a failure is a row of the table, not the end of the run
            row = {"spec": spec, "size": size, "config": f"W{config.wbit}A{config.abit}",
                   "error": f"{type(ex).__name__}: {str(ex).splitlines()[0][:160]}"}
        rows.append(row)
        with results.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(table([row]).splitlines()[-1], flush=True)
    block = render(rows, header)
    write_doc(Path(args.out), block)
    print(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
