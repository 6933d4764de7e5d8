"""How to quantize a model: ``QConfig`` (plain data, no torch) and its TOML file form.

A ``QConfig`` holds the model-wide settings and an ordered list of per-layer rules
(``LayerRule``): each rule selects layers by a glob on the layer name (``fnmatch``:
``conv1``, ``*.fc*``, ``blocks.*.mlp.*``) and overrides some settings; later rules win.
``QConfig.for_layer(name)`` is the effective setting of one layer: what ``t2c layers``
prints and every manifest records.

    wbit = 4                     # the model-wide settings: every QConfig field
    abit = 4
    [[layer]]                    # then rules, in order
    match = "conv1"
    wbit = 8
    abit = 8
    [[layer]]
    match = "fc"
    skip = true                  # keep this layer at 8 bits

``skip`` sets both bit widths to 8.  The model input and the final output use
``io_bits`` (8; ``None``: ``abit``) unless a rule matches them (the input is named
``input``).
"""
from __future__ import annotations

import fnmatch
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from .sparsity import parse_prune

BIT_RANGE = (2, 8)
LAYER_FIELDS = ("wbit", "abit", "weight_quantizer", "act_quantizer", "per_channel", "prune")


def _check_bits(what: str, b) -> None:
    lo, hi = BIT_RANGE
    if not isinstance(b, int) or isinstance(b, bool) or not lo <= b <= hi:
        raise ValueError(f"{what} must be an integer in {lo}..{hi}, got {b!r}")


@dataclass(frozen=True)
class LayerRule:
    """Overrides for the layers whose name matches the glob ``match`` (None: not overridden)."""

    match: str
    wbit: int | None = None
    abit: int | None = None
    weight_quantizer: str | None = None
    act_quantizer: str | None = None
    per_channel: bool | None = None
    prune: str | None = None  # "N:M", a sparsity fraction "0.5", or "dense" (t2c.sparsity)
    skip: bool = False  # keep the layer at 8 bits (wbit = abit = 8)

    def __post_init__(self):
        if not isinstance(self.match, str) or not self.match:
            raise ValueError(f"a layer rule needs match = \"<glob>\", got {self.match!r}")
        if self.prune is not None:
            parse_prune(self.prune, f"layer rule {self.match!r}: prune")
        for what in ("wbit", "abit"):
            if getattr(self, what) is not None:
                _check_bits(f"layer rule {self.match!r}: {what}", getattr(self, what))

    def applies_to(self, name: str) -> bool:
        return fnmatch.fnmatchcase(name, self.match)


@dataclass(frozen=True)
class LayerConfig:
    """The effective quantization of one layer."""

    wbit: int
    abit: int
    weight_quantizer: str
    act_quantizer: str
    per_channel: bool
    prune: str | None = None  # the pruning pattern (t2c.sparsity.parse_prune); None: dense

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "prune" or v is not None}

    @property
    def prune_spec(self):
        """The parsed pruning pattern, or None when the layer stays dense."""
        return parse_prune(self.prune) if self.prune is not None else None


@dataclass
class QConfig:
    """How to quantize a model.  Plain data; pass it to ``t2c.quantize``."""

    wbit: int = 8
    abit: int = 8
    weight_quantizer: str = "minmax"
    act_quantizer: str = "minmax"
    per_channel: bool = True
    io_bits: int | None = 8  # model input and final output bits (None: abit)
    multiplier_bits: int = 32  # requantization multiplier width (quantize_multiplier bits)
    prune: str | None = None  # weight pruning of every conv/linear: "2:4", "0.5" (t2c.sparsity)
    smoothquant: float | None = None  # SmoothQuant migration strength alpha in [0, 1] (t2c.convert.smooth)
    weight_kwargs: dict = field(default_factory=dict)
    act_kwargs: dict = field(default_factory=dict)
    layers: tuple[LayerRule, ...] = ()  # per-layer rules, applied in order (later ones win)

    def __post_init__(self):
        for what in ("wbit", "abit"):
            _check_bits(what, getattr(self, what))
        if self.io_bits is not None:
            _check_bits("io_bits", self.io_bits)
        if self.multiplier_bits not in (16, 32):
            raise ValueError(f"multiplier_bits must be 16 or 32, got {self.multiplier_bits}")
        if self.prune is not None:
            parse_prune(self.prune, "prune")
        if self.smoothquant is not None and not (
                isinstance(self.smoothquant, (int, float)) and 0.0 <= self.smoothquant <= 1.0):
            raise ValueError(f"smoothquant (the migration strength alpha) must be in [0, 1], got "
                             f"{self.smoothquant!r}")
        self.layers = tuple(r if isinstance(r, LayerRule) else LayerRule(**r) for r in self.layers)

    def for_layer(self, name: str, io: bool = False) -> LayerConfig:
        """The effective settings of layer ``name`` (``io``: the model input or final output)."""
        base = dict(wbit=self.wbit, abit=self.abit, weight_quantizer=self.weight_quantizer,
                    act_quantizer=self.act_quantizer, per_channel=self.per_channel, prune=self.prune)
        if io:
            base["abit"] = self.io_bits or self.abit
        for rule in self.layers:
            if rule.applies_to(name):
                base.update({k: getattr(rule, k) for k in LAYER_FIELDS if getattr(rule, k) is not None})
                if rule.skip:
                    base.update(wbit=8, abit=8)
        if base["prune"] == "dense":
            base["prune"] = None
        return LayerConfig(**base)

    def check_rules(self, names) -> None:
        """Refuse a layer rule that matches none of ``names`` (a typo would leave the layer it
        meant at the default settings, silently)."""
        names = list(names)
        for rule in self.layers:
            if not any(rule.applies_to(n) for n in names):
                raise ValueError(f"layer rule match = {rule.match!r} matches no quantized layer; "
                                 f"the layers are: {', '.join(names)}")

    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k not in ("prune", "smoothquant") or v is not None}
        d["layers"] = [{k: v for k, v in asdict(r).items() if v is not None and (k != "skip" or v)}
                       for r in self.layers]
        return d

    def label(self) -> str:
        """A short description, e.g. ``W8A8 per-channel minmax``."""
        q = self.weight_quantizer if self.weight_quantizer == self.act_quantizer else (
            f"{self.weight_quantizer}/{self.act_quantizer}")
        rules = f", {len(self.layers)} layer rules" if self.layers else ""
        extra = (f", SmoothQuant {self.smoothquant:g}" if self.smoothquant is not None else "") + (
            f", pruned {self.prune}" if self.prune else "")
        return f"W{self.wbit}A{self.abit} {'per-channel' if self.per_channel else 'per-tensor'} {q}{extra}{rules}"

    def with_overrides(self, **kwargs) -> "QConfig":
        """A copy with some model-wide fields replaced (command-line options)."""
        return replace(self, **{k: v for k, v in kwargs.items() if v is not None})


_QCONFIG_KEYS = {f.name for f in fields(QConfig)} - {"layers"}
_RULE_KEYS = {f.name for f in fields(LayerRule)}


def config_from_dict(doc: dict, where: str = "config") -> QConfig:
    """A QConfig from the dictionary a TOML file holds (unknown keys are errors)."""
    doc = dict(doc)
    rules = doc.pop("layer", [])
    unknown = sorted(set(doc) - _QCONFIG_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r}; keys: {', '.join(sorted(_QCONFIG_KEYS))}, "
                         f"and [[layer]] rules")
    if not isinstance(rules, list):
        raise ValueError(f"{where}: per-layer rules are [[layer]] tables")
    parsed = []
    for i, rule in enumerate(rules):
        bad = sorted(set(rule) - _RULE_KEYS)
        if bad:
            raise ValueError(f"{where}: [[layer]] #{i + 1}: unknown key {bad[0]!r}; keys: "
                             f"{', '.join(sorted(_RULE_KEYS))}")
        parsed.append(LayerRule(**rule))
    return QConfig(**doc, layers=tuple(parsed))


def load_config(path: str | os.PathLike) -> QConfig:
    """Read a quantization config file (TOML, see the module docstring)."""
    import tomllib

    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"config file {path} not found") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path} is not valid TOML: {e}") from None
    try:
        return config_from_dict(doc, str(path))
    except TypeError as e:
        raise ValueError(f"{path}: {e}") from None
