"""Model spec + data + config -> calibrated QModel -> IntGraph and integer golden input.

``prepare(source, config)`` is what every command that starts from a float model runs
(``t2c layers / golden / export / convert / sim --model``): build the model
(:mod:`t2c.models.spec`), find its input shape, calibration batches and golden input
(:mod:`t2c.data`), quantize, calibrate, convert.  Calibration runs in float64 and scales
are rounded to float32, so the integer parameters (and every golden file) come out the
same on any CPU.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from .ir import IntGraph
from .qconfig import QConfig

CALIB_SEED, INPUT_SEED = 1, 2   # seeded random data for models without any
DEFAULT_CALIB = 4               # random calibration samples when none are given
CALIB_BATCH = 64                # calibration batch size for sample files


@dataclass(frozen=True)
class ModelSource:
    """Everything a command says about the float model (the CLI's model options)."""

    spec: str = "digits-cnn"
    model_args: tuple[str, ...] = ()
    weights: str | None = None
    input_shape: tuple[int, ...] | None = None
    calib: str | None = None
    calib_count: int | None = None
    input: str | None = None
    batch: int = 1

    def describe(self) -> dict:
        """JSON for manifests: where the model and its data came from."""
        return {k: v for k, v in (("spec", self.spec), ("model_args", list(self.model_args)),
                                  ("weights", self.weights), ("calib", self.calib),
                                  ("calib_count", self.calib_count), ("input", self.input),
                                  ("batch", self.batch if self.batch != 1 else None)) if v}


@dataclass
class Prepared:
    name: str
    config: QConfig
    qmodel: object        # t2c.QModel
    graph: IntGraph
    x_int: np.ndarray     # the golden input, as integer codes


def _note(msg: str) -> None:
    print(f"t2c: {msg}", file=sys.stderr)


def _default_shape(spec, model) -> tuple[int, ...] | None:
    if spec.source == "timm":
        cfg = getattr(model, "pretrained_cfg", None) or getattr(model, "default_cfg", None) or {}
        if "input_size" in cfg:
            return (1, *cfg["input_size"])
    if spec.source == "torchvision":
        return (1, 3, 224, 224)
    return None


def model_data(source: ModelSource, spec, model, entry=None):
    """(input shape, calibration batches as float64 tensors, golden input float64 tensor)."""
    import torch

    from .data import load_samples, random_samples

    if entry is not None and source.input_shape is None and source.calib is None:
        golden = entry.golden_input(source.batch) if source.input is None else None
        calib = [b.double() for b in entry.calibration()]
        shape = (source.batch, *calib[0].shape[1:])
    else:
        shape = source.input_shape or _default_shape(spec, model)
        if shape is None:
            raise ValueError(f"--input-shape is required for {spec.text} (e.g. --input-shape 1x3x32x32)")
        if source.calib is not None:
            samples = load_samples(source.calib, shape, source.calib_count)
        else:
            n = source.calib_count or DEFAULT_CALIB
            _note(f"no --calib: calibrating {spec.label} on {n} seeded random inputs")
            samples = random_samples(shape, n, CALIB_SEED)
        calib = [torch.from_numpy(samples[i:i + CALIB_BATCH]).double()
                 for i in range(0, len(samples), CALIB_BATCH)]
        golden = None
        if source.input is None:
            if len(samples) < source.batch:
                raise ValueError(f"--batch {source.batch} needs as many samples; the calibration data has "
                                 f"{len(samples)}")
            golden = torch.from_numpy(samples[:source.batch])
    if source.input is not None:
        x = load_samples(source.input, (source.batch, *shape[1:]))
        if len(x) < source.batch:
            raise ValueError(f"--input {source.input} holds {len(x)} samples, --batch is {source.batch}")
        golden = torch.from_numpy(x[:source.batch])
    return shape, calib, golden.double()


def prepare(source: str | ModelSource, config: QConfig | None = None) -> Prepared:
    """Build, quantize, calibrate and convert the model ``source`` (a spec or ModelSource)."""
    import torch

    from .convert import convert, quantize
    from .models import get_model
    from .models.spec import build_model, parse_model_spec

    source = ModelSource(spec=source) if isinstance(source, str) else source
    if source.batch < 1:
        raise ValueError(f"--batch must be >= 1, got {source.batch}")
    spec = parse_model_spec(source.spec, source.model_args)
    entry = get_model(spec.name) if spec.source == "builtin" else None
    model = build_model(spec, source.weights)
    config = config or QConfig()
    _, calib, x = model_data(source, spec, model, entry)
    qmodel = quantize(model, config, example_input=calib[0][:1].float()).double()
    with torch.no_grad():
        try:
            qmodel.calibrate(calib)
        except RuntimeError as e:  # a shape the model does not take
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ValueError(f"{spec.text} does not run on inputs of shape "
                             f"{'x'.join(map(str, calib[0].shape))}: {msg}") from None
    graph = convert(qmodel, x[:1])
    graph.meta["model"] = spec.label
    if spec.source != "builtin" or source.describe() != {"spec": spec.text}:
        graph.meta["source"] = source.describe()
    return Prepared(spec.label, config, qmodel, graph, graph.quantize_input(x.numpy()))
