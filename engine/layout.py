"""A file's tensors grouped into modules: the common input of every classifier.

Built from the header alone (names, shapes). Tensors whose names are not LoRA parameters are
kept as `leftover` so callers can report them.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property, partial
from itertools import repeat
from operator import attrgetter, itemgetter
from typing import NamedTuple

from . import adapters
from .keys import _SPLIT_CACHE, ModuleName, normalize_module, split_tensor_key

_SHAPE = attrgetter("shape")
_FIRST = itemgetter(0)


class Module(NamedTuple):
    """One module (read-only). A tuple, so a table's modules are made in one C-level pass."""

    name: ModuleName
    roles: dict                 # role -> tensor key
    adapter: str | None
    rank: int | None
    in_dim: int | None
    out_dim: int | None
    conv: bool


_new_module = partial(tuple.__new__, Module)


class Shapes(Mapping):
    """tensor key -> shape tuple: a view of the header's table (no copy of its thousands of entries)."""

    __slots__ = ("tensors",)

    def __init__(self, tensors: dict):
        self.tensors = tensors   # the header's table, read-only

    def __getitem__(self, key):
        return self.tensors[key].shape

    def __iter__(self):
        return iter(self.tensors)

    def __len__(self):
        return len(self.tensors)

    def __contains__(self, key):
        return key in self.tensors

    def values(self):
        return map(_SHAPE, self.tensors.values())


class ModuleList(list):
    """A list of modules with `names_memo`: the dict of facts derived from the table's names alone,
    shared by every table with the same list of names (Layout.by_names)."""

    __slots__ = ("names_memo",)

    def __init__(self, modules, names_memo: dict):
        super().__init__(modules)
        self.names_memo = names_memo


@dataclass
class Layout:
    modules: list[Module]
    leftover: list[str]
    shapes: Mapping             # tensor key -> shape tuple
    adapter_counts: Counter = field(default_factory=Counter)
    # Derived facts that follow from the tensor names alone, shared by every layout of the same
    # list of names (see TableFacts.for_architecture); not part of the layout's value.
    by_names: dict = field(default_factory=dict, repr=False, compare=False)

    @cached_property
    def unet(self):
        """The diffusion model's modules (read-only), carrying the memo of facts from their names.
        Which modules they are follows from the names: their positions are found once per list."""
        positions = self.by_names.get("unet_positions")
        if positions is None:
            positions = self.by_names["unet_positions"] = tuple(
                i for i, m in enumerate(self.modules) if m.name.component == "unet")
        return ModuleList(map(self.modules.__getitem__, positions), self.by_names)

    @cached_property
    def te(self):
        """The text encoders' modules (read-only)."""
        return [m for m in self.modules if m.name.component == "te"]


def build_layout(tensors: dict) -> Layout:
    """Group validated header entries (name -> TensorEntry) into modules."""
    shapes = Shapes(tensors)
    groups, unsplit, by_names = _skeleton(tuple(tensors))
    plain = by_names.get("plain")
    if plain is None:   # every module a plain LoRA without a Tucker core (most files), from the names
        every = bool(groups) and all(p and "mid" not in r for _, r, p in groups)
        plain = by_names["plain"] = (every, [r["down"] for _, r, _ in groups] if every else None,
                                     [r["up"] for _, r, _ in groups] if every else None)
    if plain[0]:
        fast = _plain_modules(groups, tensors, plain[1], plain[2])
        if fast is not None:
            return Layout(modules=fast, leftover=sorted(unsplit), shapes=shapes, adapter_counts=Counter(lora=len(fast)),
                          by_names=by_names)
    leftover = list(unsplit)
    modules = []
    counts: Counter = Counter()
    for name, roles, plain in groups:
        if plain:  # up + down: plain LoRA (the first detector, inlined: most modules of most files)
            down = shapes[roles["down"]]
            up = shapes[roles["up"]]
            adapter, rank = "lora", (down[0] if down else None)
            try:
                in_dim, out_dim = down[1], up[0]
            except IndexError:
                in_dim = out_dim = None
            conv = "mid" in roles or (len(down) == 4 and down[2] * down[3] > 1)
        else:
            found = adapters.module_adapter(roles, shapes)
            if found is None:
                leftover.extend(roles.values())
                continue
            adapter, rank = found
            in_dim, out_dim = _dims(adapter, roles, shapes)
            conv = adapter == "lora" and adapters.is_conv_lora(roles, shapes)
        counts[adapter] += 1
        modules.append(Module(name, roles, adapter, rank, in_dim, out_dim, conv))
    leftover.sort()
    return Layout(modules=modules, leftover=leftover, shapes=shapes, adapter_counts=counts, by_names=by_names)


def _plain_modules(groups, tensors, down_keys, up_keys):
    """The modules of a table of plain LoRA modules, made in whole-table passes; None when a
    factor is not a matrix (build_layout's module-by-module path handles those)."""
    downs = list(map(_SHAPE, map(tensors.__getitem__, down_keys)))
    ups = list(map(_SHAPE, map(tensors.__getitem__, up_keys)))
    lens = set(map(len, downs))
    if not lens <= {2, 4} or min(map(len, ups)) < 1:
        return None
    if 4 in lens:
        conv = [len(d) == 4 and d[2] * d[3] > 1 for d in downs]
    else:
        conv = repeat(False)
    names = map(_FIRST, groups)
    roles = map(itemgetter(1), groups)
    return list(map(_new_module, zip(names, roles, repeat("lora"), map(_FIRST, downs), map(itemgetter(1), downs),
                                     map(_FIRST, ups), conv)))


# What follows from the tensor names alone (which module and role each name is), memoized per
# list of names: trainers repeat one list of names across ranks, dtypes and runs, so a library
# holds far fewer name lists than tensor tables. Roles dicts are shared: treat them as read-only.
_SKELETONS: OrderedDict = OrderedDict()
_SKELETON_LIMIT = 256


def _skeleton(names: tuple):
    """([(ModuleName, roles {role: key}, plain LoRA?)] in first-seen order, [keys that are no
    LoRA parameter], a dict for facts derived from the names) for a table's names, in order.
    Which modules a layout keeps follows from the names too: each detector of engine.adapters
    claims a module by the roles it has, never by their shapes."""
    hit = _SKELETONS.get(names)
    if hit is not None:
        _SKELETONS.move_to_end(names)
        return hit
    grouped: dict = {}
    unsplit = []
    memo = _SPLIT_CACHE  # inlined memo lookup: this loop runs once per tensor of every new name list
    for key in names:
        split = memo.get(key)
        if split is None:
            split = split_tensor_key(key)
        if not split:
            unsplit.append(key)
            continue
        module, role = split
        roles = grouped.get(module)
        if roles is None:
            grouped[module] = {role: key}
        else:
            roles[role] = key
    groups = [(normalize_module(module), roles, "up" in roles and "down" in roles) for module, roles in grouped.items()]
    hit = _SKELETONS[names] = (groups, tuple(unsplit), {})
    if len(_SKELETONS) > _SKELETON_LIMIT:
        _SKELETONS.popitem(last=False)
    return hit


def _dims(adapter: str, roles: dict, shapes: dict):
    """(in_features, out_features) of the patched weight where the factors tell it."""
    try:
        if adapter == "lora":
            return shapes[roles["down"]][1], shapes[roles["up"]][0]
        if adapter == "loha":
            return shapes[roles["hada_w1_b"]][1], shapes[roles["hada_w1_a"]][0]
        if adapter in ("full", "norm", "bias") and "diff" in roles:
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
