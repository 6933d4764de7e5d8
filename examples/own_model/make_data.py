"""Write the example's checkpoint and calibration samples (what a user brings along):

    python examples/own_model/make_data.py OUT_DIR

OUT_DIR/weights.pt   a state dict of mynet.MyNet (seeded; BatchNorm statistics set)
OUT_DIR/calib.npy    16 calibration samples, 1 x 16 x 16, values in [0, 1)
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mynet import MyNet  # noqa: E402


def make_data(out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(5)
    model = MyNet()
    for bn in (model.stem[1], model.bn_a):
        bn.running_mean.uniform_(-0.2, 0.2)
        bn.running_var.uniform_(0.5, 2.0)
    torch.save(model.state_dict(), out / "weights.pt")
    np.save(out / "calib.npy", np.random.default_rng(0).random((16, 1, 16, 16), dtype=np.float32))
    return {"weights": out / "weights.pt", "calib": out / "calib.npy"}


if __name__ == "__main__":
    paths = make_data(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
    print(" ".join(str(p) for p in paths.values()))
