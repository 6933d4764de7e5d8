"""Named models t2c knows how to build, calibrate and feed without any download.

Each entry gives the float model, calibration batches and the golden input:

* ``digits-cnn``: the default model, trained on scikit-learn's digits (committed checkpoint);
* ``digits-vit``: a small timm VisionTransformer trained on the same data (committed);
* ``resnet18`` (torchvision), ``timm-resnet18``, ``vit-tiny`` and ``deit-tiny`` (timm
  ``vit_tiny_patch16_224``, ``deit_tiny_patch16_224``): seeded random weights and
  inputs, for bit-exactness and speed work at 224x224.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # annotations only: the registry imports no torch
    import torch
    from torch import nn

SEED = 0


@dataclass(frozen=True)
class ModelEntry:
    name: str
    build: Callable[[], nn.Module]
    calibration: Callable[[], list[torch.Tensor]]
    golden_input: Callable[[int], torch.Tensor]  # the first n golden images
    description: str


def _seeded(fn):
    def build():
        import torch

        torch.manual_seed(SEED)
        return fn().eval()
    return build


def _random_images(n: int, size: int = 224, seed: int = SEED):
    import torch

    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _digits(name: str):
    """A function of t2c.models.digits, imported (with torch) only when called."""
    def call(*args, **kwargs):
        return getattr(importlib.import_module("t2c.models.digits"), name)(*args, **kwargs)
    return call


def _torchvision_resnet18():
    import torchvision

    return torchvision.models.resnet18(weights=None)


def _timm(arch: str) -> Callable[[], nn.Module]:
    def build():
        import timm

        return timm.create_model(arch, pretrained=False)
    return build


def _digits_entry(name, build, description) -> ModelEntry:
    """Calibrated on 512 training digits; the golden input is the first test digit."""
    split = _digits("digits_split")
    return ModelEntry(name, build, lambda: [split()[0][:512]], lambda n=1: split()[2][:n], description)


def _random_entry(name, build, description, calibration_images=4) -> ModelEntry:
    """Seeded random weights, calibrated and fed with seeded random 224x224 images."""
    return ModelEntry(name, _seeded(build), lambda: [_random_images(calibration_images, seed=SEED + 1)],
                      lambda n=1: _random_images(n, seed=SEED + 2), description)


MODELS: dict[str, ModelEntry] = {e.name: e for e in (
    _digits_entry("digits-cnn", _digits("load_digits_cnn"),
                  "residual CNN trained on scikit-learn digits (8x8), committed checkpoint"),
    _digits_entry("digits-vit", _digits("load_digits_vit"),
                  "timm VisionTransformer (2 blocks, dim 48) trained on digits, committed checkpoint"),
    _random_entry("resnet18", _torchvision_resnet18,
                  "torchvision resnet18, seeded random weights, 224x224 random input"),
    _random_entry("timm-resnet18", _timm("resnet18"),
                  "timm resnet18, seeded random weights, 224x224 random input"),
    _random_entry("vit-tiny", _timm("vit_tiny_patch16_224"),
                  "timm vit_tiny_patch16_224, seeded random weights, 224x224 random input", 2),
    _random_entry("deit-tiny", _timm("deit_tiny_patch16_224"),
                  "timm deit_tiny_patch16_224, seeded random weights, 224x224 random input", 2),
)}


def get_model(name: str) -> ModelEntry:
    """The registry entry for ``name``; an unknown name lists the known ones."""
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(MODELS)}") from None


_FROM_DIGITS = ("DigitsCNN", "digits_split", "digits_vit", "load_digits_cnn", "load_digits_vit")
__all__ = ["MODELS", "ModelEntry", "get_model", *_FROM_DIGITS]


def __getattr__(name: str):
    """The digits model and data (t2c.models.digits: torch) load on first use; the
    registry itself does not import torch (``t2c sim`` lists the built-in names)."""
    if name in _FROM_DIGITS:
        return getattr(importlib.import_module("t2c.models.digits"), name)
    raise AttributeError(f"module 't2c.models' has no attribute {name!r}")
