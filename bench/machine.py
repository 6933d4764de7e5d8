"""The machine line every benchmark prints with its figures (CPU, cores, torch, Python)."""
from __future__ import annotations

import os
import platform
from pathlib import Path


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import torch
    except ImportError:
        return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, no torch"
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads, "
            f"CPU capability {torch.backends.cpu.get_cpu_capability()}), Python {platform.python_version()}")
