"""An example of "your own model" for t2c (README, "Your own model"): a small CNN in a file
of its own, with a checkpoint and calibration data made by make_data.py."""
import torch
from torch import nn


class MyNet(nn.Module):
    """Convs with BN + ReLU, a max pool, a residual add and a Linear head; 1x16x16 input."""

    def __init__(self, width: int = 8, classes: int = 4):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.pool = nn.MaxPool2d(2)
        self.conv_a = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn_a = nn.BatchNorm2d(width)
        self.conv_b = nn.Conv2d(width, width, 3, padding=1)
        self.head = nn.Linear(width, classes)

    def forward(self, x):
        x = self.pool(self.stem(x))
        y = torch.relu(self.bn_a(self.conv_a(x)))
        y = torch.relu(self.conv_b(y) + x)
        return self.head(y.mean((2, 3)))


def build(width=8):
    return MyNet(width=width)
