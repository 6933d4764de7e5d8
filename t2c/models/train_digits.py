"""Train a digits model and write its checkpoint (fixed seed, CPU).

    python -m t2c.models.train_digits [--model cnn|vit] [--epochs N] [--out PATH]

cnn: 40 epochs, lr 3e-3 (~15 s); vit: 60 epochs, lr 1e-3 (a few minutes).
"""
from __future__ import annotations

import argparse
import io

import torch
from torch import nn

from ..fileio import atomic_write_bytes
from .digits import CHECKPOINT, TRAIN_SEED, VIT_CHECKPOINT, DigitsCNN, accuracy, digits_split, digits_vit

RECIPES = {"cnn": (DigitsCNN, 40, 3e-3, CHECKPOINT), "vit": (digits_vit, 60, 1e-3, VIT_CHECKPOINT)}


def train(model: nn.Module, x, y, epochs: int, lr: float = 3e-3, batch: int = 64, seed: int = TRAIN_SEED,
          log=print, on_epoch=None) -> nn.Module:
    """Plain Adam training; used for the float model and for QAT of a QModel alike.
    ``on_epoch(epoch)`` runs before each epoch (e.g. ``t2c.sparsity.GradualPruning``)."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(epochs):
        if on_epoch is not None:
            on_epoch(epoch)
        model.train()
        perm = torch.randperm(len(x), generator=gen)
        total = 0.0
        for i in range(0, len(x), batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        sched.step()
        if log and (epoch + 1) % 10 == 0:
            log(f"epoch {epoch + 1}/{epochs} loss {total / len(x):.4f}")
    return model.eval()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=sorted(RECIPES), default="cnn")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    build, epochs, lr, out = RECIPES[args.model]
    args.out = args.out or str(out)
    torch.manual_seed(TRAIN_SEED)
    torch.use_deterministic_algorithms(True)
    xtr, ytr, xte, yte = digits_split()
    model = train(build(), xtr, ytr, args.epochs or epochs, lr=lr)
    print(f"test accuracy {accuracy(model, xte, yte):.2f}% on {len(xte)} held-out digits")
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    atomic_write_bytes(args.out, buf.getvalue())
    print(f"wrote {args.out} ({len(buf.getvalue())} bytes)")


if __name__ == "__main__":
    main()
