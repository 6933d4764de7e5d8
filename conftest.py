"""pytest setup for tests/ and sim/: one torch/OpenMP thread per xdist worker.

``make test`` runs one worker per core; each torch op using every core on top of that
oversubscribes the machine (measured: the reconstruction tests ran 6x slower).  Set
before any test module imports torch; a user's own OMP_NUM_THREADS wins.
"""
import os

if "PYTEST_XDIST_WORKER" in os.environ:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
