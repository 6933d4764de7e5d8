"""Named models t2c knows how to build, calibrate and feed without any download.

Each entry gives the float model, calibration batches and the golden input:

* ``digits-cnn``: the default model, trained on scikit-learn's digits (committed checkpoint);
* ``digits-vit``: a small timm VisionTransformer trained on the same data (committed);
* ``resnet18`` (torchvision), ``timm-resnet18`` and ``vit-tiny`` (timm
  ``vit_tiny_patch16_224``): seeded random weights and inputs, for bit-exactness and
  speed work at 224x224.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .digits import DigitsCNN, digits_split, digits_vit, load_digits_cnn, load_digits_vit

SEED = 0


@dataclass(frozen=True)
class ModelEntry:
    name: str
    build: Callable[[], nn.Module]
    calibration: Callable[[], list[torch.Tensor]]
    golden_input: Callable[[], torch.Tensor]
    description: str


def _seeded(fn):
    def build():
        torch.manual_seed(SEED)
        return fn().eval()
    return build


def _random_images(n: int, size: int = 224, seed: int = SEED) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _torchvision_resnet18():
    import torchvision

    return torchvision.models.resnet18(weights=None)


def _timm_vit_tiny():
    import timm

    return timm.create_model("vit_tiny_patch16_224", pretrained=False)


def _timm_resnet18():
    import timm

    return timm.create_model("resnet18", pretrained=False)


MODELS: dict[str, ModelEntry] = {
    "digits-cnn": ModelEntry(
        "digits-cnn", load_digits_cnn,
        lambda: [digits_split()[0][:512]],
        lambda: digits_split()[2][:1],
        "residual CNN trained on scikit-learn digits (8x8), committed checkpoint"),
    "digits-vit": ModelEntry(
        "digits-vit", load_digits_vit,
        lambda: [digits_split()[0][:512]],
        lambda: digits_split()[2][:1],
        "timm VisionTransformer (2 blocks, dim 48) trained on digits, committed checkpoint"),
    "resnet18": ModelEntry(
        "resnet18", _seeded(_torchvision_resnet18),
        lambda: [_random_images(4, seed=SEED + 1)],
        lambda: _random_images(1, seed=SEED + 2),
        "torchvision resnet18, seeded random weights, 224x224 random input"),
    "timm-resnet18": ModelEntry(
        "timm-resnet18", _seeded(_timm_resnet18),
        lambda: [_random_images(4, seed=SEED + 1)],
        lambda: _random_images(1, seed=SEED + 2),
        "timm resnet18, seeded random weights, 224x224 random input"),
    "vit-tiny": ModelEntry(
        "vit-tiny", _seeded(_timm_vit_tiny),
        lambda: [_random_images(2, seed=SEED + 1)],
        lambda: _random_images(1, seed=SEED + 2),
        "timm vit_tiny_patch16_224, seeded random weights, 224x224 random input"),
}


def get_model(name: str) -> ModelEntry:
    """The registry entry for ``name``; an unknown name lists the known ones."""
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(MODELS)}") from None


__all__ = ["MODELS", "ModelEntry", "get_model", "DigitsCNN", "digits_split", "digits_vit",
           "load_digits_cnn", "load_digits_vit"]
