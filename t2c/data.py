"""Input shapes and calibration data from files: ``--input-shape``, ``--calib``, ``--input``.

* ``parse_shape("1x3x32x32")`` -> ``(1, 3, 32, 32)`` (the batch dimension first);
* ``load_samples(path, shape)`` -> float32 ``[N, *shape[1:]]`` from a ``.npy``, a ``.npz``
  (its only array, or the one named ``x``, ``calib`` or ``input``), a ``.pt`` tensor, or a
  directory of images (PNG, JPEG, BMP, PGM/PPM, TIFF; read with Pillow, converted to
  grayscale or RGB by the shape's channels, resized to its height x width, scaled to
  [0, 1]); a single sample of the input's shape is one sample.  Any other shape is a
  one-line error naming both shapes.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm", ".tif", ".tiff")


def parse_shape(text: str) -> tuple[int, ...]:
    """``1x3x32x32`` (or ``1,3,32,32``) -> a tuple of positive ints."""
    parts = [p for p in str(text).replace(",", "x").lower().split("x") if p.strip()]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if len(shape) < 2 or min(shape) < 1:
        raise ValueError(f"--input-shape {text!r}: give the batch and input dimensions, e.g. 1x3x32x32")
    return shape


def _from_npz(path: Path) -> np.ndarray:
    with np.load(path, allow_pickle=False) as z:
        names = list(z.files)
        for key in ("x", "calib", "input"):
            if key in names:
                return z[key]
        if len(names) == 1:
            return z[names[0]]
    raise ValueError(f"{path} holds {len(names)} arrays ({', '.join(names[:5])}); name the samples x, calib "
                     f"or input")


def _from_pt(path: Path) -> np.ndarray:
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"{path} is not a saved tensor ({type(e).__name__}: {e})") from None
    if not isinstance(obj, torch.Tensor):
        raise ValueError(f"{path} holds a {type(obj).__name__}, not a tensor of samples")
    return obj.detach().to(torch.float32).numpy()


def _from_images(root: Path, shape: tuple[int, ...]) -> np.ndarray:
    from PIL import Image

    files = sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"{root} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    if len(shape) != 4 or shape[1] not in (1, 3):
        raise ValueError(f"images need a 1- or 3-channel input shape N x C x H x W, not {shape}")
    mode = "L" if shape[1] == 1 else "RGB"
    out = []
    for f in files:
        try:
            with Image.open(f) as im:
                im = im.convert(mode).resize((shape[3], shape[2]), Image.BILINEAR)
                a = np.asarray(im, dtype=np.float32) / 255.0
        except OSError as e:
            raise ValueError(f"cannot read image {f}: {e}") from None
        out.append(a[None] if mode == "L" else a.transpose(2, 0, 1))
    return np.stack(out)


def check_finite(a, what: str) -> None:
    """ValueError naming the first NaN or infinity in ``a`` (a numpy array or a torch tensor)."""
    a = np.asarray(a.detach().cpu().numpy() if hasattr(a, "detach") else a)
    if a.dtype.kind != "f":
        return
    bad = ~np.isfinite(a)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        kind = "NaN" if np.isnan(a[idx]) else "an infinity"
        more = "" if bad.sum() == 1 else f", and {int(bad.sum()) - 1:,} more"
        raise ValueError(f"{what} contains {kind} (at index {idx}{more})")


def load_samples(path: str | Path, shape: tuple[int, ...], count: int | None = None) -> np.ndarray:
    """Samples for a model input of ``shape`` (N first), float32 ``[n, *shape[1:]]``."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p} not found")
    if p.is_dir():
        a = _from_images(p, shape)
    elif p.suffix == ".npy":
        a = np.load(p, allow_pickle=False)
    elif p.suffix == ".npz":
        a = _from_npz(p)
    elif p.suffix in (".pt", ".pth"):
        a = _from_pt(p)
    else:
        raise ValueError(f"{p}: samples come as .npy, .npz, .pt or a directory of images")
    a = np.asarray(a)
    if a.dtype.kind not in "fiu":
        raise ValueError(f"{p} holds {a.dtype} values, not numbers")
    sample = tuple(shape[1:])
    if tuple(a.shape) == sample:
        a = a[None]
    if tuple(a.shape[1:]) != sample:
        raise ValueError(f"{p} has samples of shape {tuple(a.shape[1:]) or tuple(a.shape)}, the model input is "
                         f"{'x'.join(map(str, sample))} (--input-shape {'x'.join(map(str, shape))})")
    if count is not None:
        if count < 1:
            raise ValueError(f"--calib-count must be >= 1, got {count}")
        a = a[:count]
    check_finite(a, str(p))
    return np.ascontiguousarray(a.astype(np.float32))


def random_samples(shape: tuple[int, ...], n: int, seed: int) -> np.ndarray:
    """Seeded N(0, 1) samples of the input's shape (models without calibration data)."""
    return np.random.default_rng(seed).standard_normal((n, *shape[1:])).astype(np.float32)
