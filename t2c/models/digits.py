"""The default model: a small residual CNN for scikit-learn's 8x8 digits.

The data ships inside scikit-learn, so nothing is downloaded.  Layers are named
``conv1`` .. ``conv4``, ``avgpool``, ``flatten``, ``fc`` (conv4 carries the residual
add from conv2's output, so co-simulating it exercises the fused residual path).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

CHECKPOINT = Path(__file__).with_name("digits_cnn.pt")
VIT_CHECKPOINT = Path(__file__).with_name("digits_vit.pt")
SPLIT_SEED = 0
TRAIN_SEED = 0


class DigitsCNN(nn.Module):
    def __init__(self, width: int = 16):
        super().__init__()
        w1, w2 = width, 2 * width
        self.conv1 = nn.Conv2d(1, w1, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(w1)
        self.conv2 = nn.Conv2d(w1, w2, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(w2)
        self.conv3 = nn.Conv2d(w2, w2, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(w2)
        self.conv4 = nn.Conv2d(w2, w2, 3, padding=1, bias=False)
        self.bn4 = nn.BatchNorm2d(w2)
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(w2, 10)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        skip = self.relu(self.bn2(self.conv2(x)))
        x = self.relu(self.bn3(self.conv3(skip)))
        x = self.relu(self.bn4(self.conv4(x)) + skip)
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


def digits_vit() -> nn.Module:
    """A small timm VisionTransformer for 8x8 digits: 2x2 patches, dim 48, 2 blocks, 3 heads.

    It is timm's own class (no t2c-specific model code), so its layer names match
    ``vit_tiny_patch16_224``: ``blocks.0.attn.softmax``, ``blocks.0.mlp.act``, ...
    """
    from timm.models.vision_transformer import VisionTransformer

    return VisionTransformer(img_size=8, patch_size=2, in_chans=1, num_classes=10, embed_dim=48,
                             depth=2, num_heads=3, mlp_ratio=2.0)


def _load(model: nn.Module, path: Path, module: str) -> nn.Module:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; run `python -m t2c.models.train_digits --model {module}`")
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


def load_digits_vit() -> nn.Module:
    """The committed digits ViT checkpoint."""
    return _load(digits_vit(), VIT_CHECKPOINT, "vit")


def digits_split():
    """(x_train, y_train, x_test, y_test) as float32 [N, 1, 8, 8] in [0, 1] and int64 labels."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.data.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    xtr, xte, ytr, yte = train_test_split(x, d.target, test_size=0.2, random_state=SPLIT_SEED,
                                          stratify=d.target)
    t = torch.from_numpy
    return t(xtr), t(ytr.astype(np.int64)), t(xte), t(yte.astype(np.int64))


def load_digits_cnn() -> DigitsCNN:
    """The committed checkpoint (``python -m t2c.models.train_digits`` rebuilds it)."""
    return _load(DigitsCNN(), CHECKPOINT, "cnn")


def accuracy(fn, x: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy (%) of ``fn`` (a callable returning logits) on ``x``, ``y``."""
    with torch.no_grad():
        pred = torch.as_tensor(np.asarray(fn(x))).argmax(dim=1)
    return 100.0 * float((pred == y).float().mean())
