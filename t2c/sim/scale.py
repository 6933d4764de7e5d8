"""A dataset through the RTL network on several workers, with Dask distributed.

``run_dataset(golden, graph, x, options, workers=N)`` cuts the inputs into chunks, one
simulation of the whole chained network per chunk (:func:`t2c.sim.network.run_network`),
and runs the chunks on a Dask cluster: a ``LocalCluster`` of ``N`` single-threaded worker
processes by default, or any running scheduler (``scheduler="tcp://host:8786"``, what
``dask scheduler`` / ``dask worker`` or a job-queue cluster provide).  The golden
directory and the integer graph are shipped to the workers once (a tar of the golden
files and the pickled IntGraph, scattered with broadcast), so the workers need t2c, the
simulators and nothing else: no shared filesystem, no torch (each worker computes its
chunk's reference with the integer executor).  Each worker keeps its builds in its own
directories (``<build root>/<unit>/<sim>/<model>-w<worker>-...``), reused by its later
chunks.  The per-chunk results come back in order and are merged exactly as in one
process (:func:`t2c.sim.network.merge_runs`).
"""
from __future__ import annotations

import io
import tarfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..golden import Golden
from .network import NetworkRun, merge_runs, run_network
from .units import SimOptions


def _tar(root: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(root, arcname="golden")
    return buf.getvalue()


def _unpack(data: bytes) -> Path:
    """The shipped golden directory on this worker (unpacked once per content)."""
    import hashlib

    from ..fileio import file_lock
    from .toolchain import build_root

    d = build_root() / "shipped" / hashlib.sha1(data).hexdigest()[:12]
    with file_lock(d.with_name(d.name + ".lock")):
        if not (d / "golden" / "manifest.json").is_file():
            d.mkdir(parents=True, exist_ok=True)
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                tar.extractall(d, filter="data")
    return d / "golden"


def _slim(net: NetworkRun) -> NetworkRun:
    """Drop what the client does not need back (every unit's decoded output tensor)."""
    for r in net.layers:
        if r.run is not None:
            r.run = replace(r.run, got=None)
        r.replay = None
    return net


def run_chunk(golden_tar: bytes, graph, x: np.ndarray, options: SimOptions, keep_going: bool) -> NetworkRun:
    """One chunk on a worker: the reference of every layer, then the chained RTL network."""
    from ..golden import read_golden

    try:
        from distributed import get_worker

        worker = get_worker().name
    except (ImportError, ValueError):
        worker = 0
    golden = read_golden(_unpack(golden_tar))
    rec = graph.run(x, record=True)
    expected = {name: r.output for name, r in rec.layers.items()}
    model = golden.manifest.get("model") or "model"
    net = run_network(golden, replace(options, tag=f"{model}-w{worker}"), inputs=x, expected=expected,
                      keep_going=keep_going)
    return _slim(net)


def run_dataset(golden: Golden, graph, x: np.ndarray, options: SimOptions, *, workers: int = 2,
                chunk: int | None = None, scheduler: str | None = None, keep_going: bool = False) -> NetworkRun:
    """``x`` (input codes) through the RTL network on a Dask cluster (module docstring)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        from ..errors import ToolMissingError

        raise ToolMissingError("scale-out needs Dask distributed: pip install 'dask[distributed]' "
                               "(or: pip install 't2c[scale]')") from None
    n = len(x)
    chunk = chunk or -(-n // workers)
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        tar_f, graph_f = client.scatter([_tar(golden.root), graph], broadcast=True)
        futures = [client.submit(run_chunk, tar_f, graph_f, x[i:i + chunk], options, keep_going, pure=False)
                   for i in range(0, n, chunk)]
        runs = client.gather(futures)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return merge_runs(runs)
