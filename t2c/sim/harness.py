"""Python models of the shared testbench pieces in sim/hdl/ that tests need to predict
cycle counts exactly."""
from __future__ import annotations

import numpy as np


def issue_cycles(n: int, gaps: int, gap_seed: int = 1) -> np.ndarray:
    """The cycles (0 = the first after reset release) in which ``tb_feed`` issues its ``n``
    vectors: every cycle, or, with GAPS, every cycle in which ``tb_harness.v``'s 16-bit
    LFSR (x^16 + x^14 + x^13 + x^11 + 1, seeded (GAP_SEED % 65535) + 1) does not have its
    two low bits 00."""
    if not gaps:
        return np.arange(n)
    lfsr, c, out = (gap_seed % 65535) + 1, 0, []
    while len(out) < n:
        if lfsr & 3:
            out.append(c)
        fb = ((lfsr >> 15) ^ (lfsr >> 13) ^ (lfsr >> 12) ^ (lfsr >> 10)) & 1
        lfsr, c = ((lfsr << 1) & 0xFFFF) | fb, c + 1
    return np.array(out)
