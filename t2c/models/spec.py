"""Model specs: which float model a command works on, as one string.

===============================  ===================================================
spec                             the model
===============================  ===================================================
``digits-cnn``                   a built-in model (``t2c models``)
``torchvision:resnet18``         ``torchvision.models.<name>(weights=None)``
``timm:vit_tiny_patch16_224``    ``timm.create_model(<name>, pretrained=False)``
``path/to/mynet.py:build``       a callable in a Python file, returning an ``nn.Module``
``mypackage.models:Net``         a callable in an importable module
``saved.pt``                     a whole module saved with ``torch.save(model)``
===============================  ===================================================

Keyword arguments for the callable: ``mynet.py:build(width=32, depth=2)`` or
``--model-arg width=32`` (values are Python literals).  Models without a checkpoint get
seeded random weights (``torch.manual_seed(0)`` before they are built); ``--weights
FILE`` loads a state dict (strict: a mismatch names the first missing / unexpected keys)
or a whole saved module.
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

SEED = 0
_CALL = re.compile(r"^(?P<target>[^()]+?)(?:\((?P<args>.*)\))?$", re.S)


class ModelSpecError(ValueError):
    """A model spec that does not name a model t2c can build."""


@dataclass(frozen=True)
class ModelSpec:
    text: str          # as given
    source: str        # "builtin" | "torchvision" | "timm" | "file" | "module" | "saved"
    name: str          # registry name, library model name, or callable name
    location: str = ""  # the file or module holding the callable / the saved module
    kwargs: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        """A short name for outputs and manifests (``mynet.py:build`` -> ``mynet``)."""
        if self.source in ("builtin", "torchvision", "timm"):
            return self.text if self.source == "builtin" else f"{self.source}-{self.name}"
        return Path(self.location).stem if self.source in ("file", "saved") else self.location.split(".")[-1]


def parse_kwargs(text: str, what: str) -> dict:
    """``a=1, b='x', c=(2, 3)`` -> dict (values are Python literals)."""
    if not text.strip():
        return {}
    try:
        call = ast.parse(f"f({text})", mode="eval").body
        if not isinstance(call, ast.Call) or call.args:
            raise ValueError
        return {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
    except (SyntaxError, ValueError):
        raise ModelSpecError(f"{what}: arguments must be name=value pairs of Python literals, got {text!r}") \
            from None


def parse_model_spec(text: str, model_args=()) -> ModelSpec:
    """Parse a model spec (module docstring) plus ``--model-arg k=v`` extras."""
    from . import MODELS

    extra = parse_kwargs(", ".join(model_args), "--model-arg") if model_args else {}
    text = text.strip()
    if text in MODELS:
        if extra:
            raise ModelSpecError(f"built-in model {text!r} takes no --model-arg")
        return ModelSpec(text, "builtin", text)
    for lib in ("torchvision", "timm"):
        if text.startswith(lib + ":"):
            m = _CALL.match(text[len(lib) + 1:])
            if not m or not m.group("target").strip():
                raise ModelSpecError(f"model spec {text!r}: give a model name, e.g. {lib}:resnet18")
            kwargs = {**parse_kwargs(m.group("args") or "", text), **extra}
            return ModelSpec(text, lib, m.group("target").strip(), kwargs=kwargs)
    if text.endswith((".pt", ".pth")) and ":" not in text:
        return ModelSpec(text, "saved", Path(text).name, location=text)
    if ":" in text:
        location, _, call = text.rpartition(":")
        m = _CALL.match(call)
        if not location or not m or not m.group("target").strip().isidentifier():
            raise ModelSpecError(f"model spec {text!r}: expected FILE.py:callable or package.module:callable")
        kwargs = {**parse_kwargs(m.group("args") or "", text), **extra}
        source = "file" if location.endswith(".py") or "/" in location else "module"
        return ModelSpec(text, source, m.group("target").strip(), location=location, kwargs=kwargs)
    raise ModelSpecError(f"unknown model {text!r}; give a built-in name ({', '.join(MODELS)}), "
                         f"torchvision:NAME, timm:NAME, FILE.py:callable, package.module:callable or FILE.pt")


def _load_callable(spec: ModelSpec):
    if spec.source == "file":
        path = Path(spec.location)
        if not path.is_file():
            raise ModelSpecError(f"model file {path} not found")
        mod_name = f"t2c_user_model_{path.stem}"
        module_spec = importlib.util.spec_from_file_location(mod_name, path.resolve())
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[mod_name] = module  # dataclasses and pickling look modules up by name
        try:
            module_spec.loader.exec_module(module)
        except Exception as e:
            raise ModelSpecError(f"model file {path} failed to import: {type(e).__name__}: {e}") from None
    else:
        try:
            module = importlib.import_module(spec.location)
        except ImportError as e:
            raise ModelSpecError(f"cannot import module {spec.location!r}: {e}") from None
    fn = getattr(module, spec.name, None)
    if fn is None or not callable(fn):
        names = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        raise ModelSpecError(f"{spec.location} has no callable {spec.name!r}; it has: {', '.join(names[:12])}")
    return fn


def build_model(spec: ModelSpec, weights: str | None = None):
    """The float ``nn.Module`` of ``spec`` in eval mode (seeded weights unless ``weights``)."""
    import torch
    from torch import nn

    from . import get_model

    torch.manual_seed(SEED)
    if spec.source == "builtin":
        model = get_model(spec.name).build()
    elif spec.source == "torchvision":
        import torchvision

        if spec.name not in torchvision.models.list_models():
            raise ModelSpecError(f"torchvision has no model {spec.name!r} (torchvision.models.list_models())")
        model = torchvision.models.get_model(spec.name, weights=None, **spec.kwargs)
    elif spec.source == "timm":
        import timm

        if not timm.is_model(spec.name):
            raise ModelSpecError(f"timm has no model {spec.name!r} (timm.list_models())")
        model = timm.create_model(spec.name, pretrained=False, **spec.kwargs)
    elif spec.source == "saved":
        model = _load_saved_module(spec.location)
    else:
        try:
            model = _load_callable(spec)(**spec.kwargs)
        except ModelSpecError:
            raise
        except TypeError as e:
            raise ModelSpecError(f"{spec.text}: {e}") from None
    if not isinstance(model, nn.Module):
        raise ModelSpecError(f"{spec.text} returned a {type(model).__name__}, not a torch.nn.Module")
    if weights is not None:
        model = load_weights(model, weights)
    from ..data import check_finite

    for name, t in model.state_dict().items():
        if t.is_floating_point():
            check_finite(t, f"the weights of {spec.text}: {name}")
    return model.eval()


def _load_saved_module(path: str):
    import torch
    from torch import nn

    p = Path(path)
    if not p.is_file():
        raise ModelSpecError(f"saved model {p} not found")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=False)
    except Exception as e:
        raise ModelSpecError(f"{p} is not a saved torch module ({type(e).__name__}: {e})") from None
    if not isinstance(obj, nn.Module):
        raise ModelSpecError(f"{p} holds a {type(obj).__name__}; a whole module (torch.save(model)) is "
                             f"needed as a model spec (a state dict goes with --weights)")
    return obj


def load_weights(model, path: str):
    """Load a state dict (strict) or take a whole saved module from ``path``."""
    import torch
    from torch import nn

    p = Path(path)
    if not p.is_file():
        raise ModelSpecError(f"weights file {p} not found")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=False)
    except Exception as e:
        raise ModelSpecError(f"--weights {p} is not a torch checkpoint ({type(e).__name__}: {e})") from None
    if isinstance(obj, nn.Module):
        return obj
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ModelSpecError(f"--weights {p} holds a {type(obj).__name__}, not a state dict or a module")
    want, got = set(model.state_dict()), set(obj)
    missing, unexpected = sorted(want - got), sorted(got - want)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys {', '.join(missing[:3])}" + (" ..." if len(missing) > 3 else ""))
        if unexpected:
            parts.append(f"unexpected keys {', '.join(unexpected[:3])}" + (" ..." if len(unexpected) > 3 else ""))
        raise ModelSpecError(f"--weights {p} does not fit the model: {'; '.join(parts)}")
    try:
        model.load_state_dict(obj, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise ModelSpecError(f"--weights {p} does not fit the model: {first[-1].strip() if first else e}") \
            from None
    return model
