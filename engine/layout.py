"""A file's tensors grouped into modules: the common input of every classifier.

Built from the header alone (names, shapes). Tensors whose names are not LoRA parameters are
kept as `leftover` so callers can report them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from . import adapters
from .keys import _SPLIT_CACHE, ModuleName, normalize_module, split_tensor_key


@dataclass
class Module:
    name: ModuleName
    roles: dict                 # role -> tensor key
    adapter: str | None
    rank: int | None
    in_dim: int | None
    out_dim: int | None
    conv: bool


@dataclass
class Layout:
    modules: list[Module]
    leftover: list[str]
    shapes: dict                # tensor key -> shape tuple
    adapter_counts: Counter = field(default_factory=Counter)

    @property
    def unet(self):
        return [m for m in self.modules if m.name.component == "unet"]

    @property
    def te(self):
        return [m for m in self.modules if m.name.component == "te"]


def build_layout(tensors: dict) -> Layout:
    """Group validated header entries (name -> (dtype, shape, begin, end)) into modules."""
    grouped: dict = {}
    leftover = []
    shapes = {}
    memo = _SPLIT_CACHE  # inlined memo lookup: this loop runs once per tensor of every new table
    for key, entry in tensors.items():
        shapes[key] = entry[1]
        split = memo.get(key)
        if split is None:
            split = split_tensor_key(key)
        if not split:
            leftover.append(key)
            continue
        module, role = split
        roles = grouped.get(module)
        if roles is None:
            grouped[module] = {role: key}
        else:
            roles[role] = key
    modules = []
    counts: Counter = Counter()
    for module, roles in grouped.items():
        found = adapters.module_adapter(roles, shapes)
        if found is None:
            leftover.extend(roles.values())
            continue
        adapter, rank = found
        counts[adapter] += 1
        in_dim, out_dim = _dims(adapter, roles, shapes)
        conv = adapter == "lora" and adapters.is_conv_lora(roles, shapes)
        modules.append(Module(normalize_module(module), roles, adapter, rank, in_dim, out_dim, conv))
    leftover.sort()
    return Layout(modules=modules, leftover=leftover, shapes=shapes, adapter_counts=counts)


def _dims(adapter: str, roles: dict, shapes: dict):
    """(in_features, out_features) of the patched weight where the factors tell it."""
    try:
        if adapter == "lora":
            return shapes[roles["down"]][1], shapes[roles["up"]][0]
        if adapter == "loha":
            return shapes[roles["hada_w1_b"]][1], shapes[roles["hada_w1_a"]][0]
        if adapter == "full" and "diff" in roles:
            shape = shapes[roles["diff"]]
            return (shape[1] if len(shape) > 1 else None), shape[0]
        if adapter == "lokr":
            a, b = _factor(roles, shapes, "lokr_w1")
            c, d = _factor(roles, shapes, "lokr_w2")
            return b * d, a * c
    except (KeyError, IndexError, TypeError):
        return None, None
    return None, None


def _factor(roles, shapes, stem):
    if stem in roles:
        shape = shapes[roles[stem]]
        return shape[0], shape[1]
    return shapes[roles[stem + "_a"]][0], shapes[roles[stem + "_b"]][1]
