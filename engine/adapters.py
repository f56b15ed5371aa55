"""Which adapter a module uses, decided by a registry of small detectors.

Each detector looks at the parameter roles one module has (engine.keys roles) and claims the
module or passes. They are tried in order; a module nobody claims is reported as leftover, never
silently ignored (the way ComfyUI's loader logs "lora key not loaded").
"""

from __future__ import annotations

import math
from collections import Counter

ADAPTERS = ("lora", "locon", "loha", "lokr", "glora", "oft", "boft", "full")
# Small vector patches: a bias diff (`diff_b`, or `diff` on a `.bias`) and a diff of a 1-D weight
# (LayerNorm/GroupNorm weights, RMSNorm `scale`). ComfyUI applies them, but they never decide
# what kind of adapter a file is.
VECTOR_DIFFS = ("bias", "norm")


def _loha(roles, shapes):
    if "hada_w1_a" in roles and "hada_w1_b" in roles and "hada_w2_a" in roles and "hada_w2_b" in roles:
        return "loha", shapes[roles["hada_w1_b"]][0]
    return None


def _lokr(roles, shapes):
    has_w1 = "lokr_w1" in roles or ("lokr_w1_a" in roles and "lokr_w1_b" in roles)
    has_w2 = "lokr_w2" in roles or ("lokr_w2_a" in roles and "lokr_w2_b" in roles)
    if not (has_w1 and has_w2):
        return None
    rank = None
    if "lokr_w1_b" in roles:
        rank = shapes[roles["lokr_w1_b"]][0]
    if "lokr_w2_b" in roles:
        rank = shapes[roles["lokr_w2_b"]][0]
    return "lokr", rank


def _glora(roles, shapes):
    if all(r in roles for r in ("a1", "a2", "b1", "b2")):
        a1, a2 = shapes[roles["a1"]], shapes[roles["a2"]]
        return "glora", min(min(a1), min(a2))
    return None


def _oft(roles, shapes):
    if "oft_blocks" in roles:
        ndim = len(shapes[roles["oft_blocks"]])
        return ("boft" if ndim == 4 else "oft"), None
    return None


def _lora(roles, shapes):
    if "up" in roles and "down" in roles:
        return "lora", shapes[roles["down"]][0] if shapes[roles["down"]] else None
    return None


def _full(roles, shapes):
    weight = roles.get("diff") or roles.get("w_norm")
    if weight is not None and len(shapes[weight]) < 2:
        return ("bias" if weight.endswith((".bias.diff", ".bias.w_norm")) else "norm"), None
    if weight is not None or "set_weight" in roles:
        return "full", None
    if "diff_b" in roles or "b_norm" in roles or "up_bias" in roles:
        return "bias", None
    return None


# Plain LoRA first: by far the most common, and its roles (up + down) belong to no other adapter.
DETECTORS = (_lora, _loha, _lokr, _glora, _oft, _full)


def module_adapter(roles: dict, shapes: dict):
    """(adapter, rank) for one module's roles, or None if no detector claims it."""
    for detect in DETECTORS:
        found = detect(roles, shapes)
        if found:
            return found
    return None


def is_conv_lora(roles: dict, shapes: dict) -> bool:
    """A LoRA module that adapts a k x k convolution with k > 1 (LoCon) or has a Tucker core."""
    if "mid" in roles:
        return True
    down = shapes.get(roles.get("down"), ())
    return len(down) == 4 and down[2] * down[3] > 1


def summarize(adapters: Counter, conv: bool, mass=None) -> str | None:
    """The file's adapter: where its weight mass is. `mass()` gives {adapter: values stored},
    asked only when modules use more than one adapter besides bias/norm diffs; a file of such
    diffs alone is `full`."""
    main = [a for a in adapters if a not in VECTOR_DIFFS]
    if not main:
        return "full" if adapters else None
    if len(main) > 1:
        weights = mass()
        main.sort(key=lambda a: (-weights.get(a, 0), ADAPTERS.index(a) if a in ADAPTERS else 99))
    adapter = main[0]
    if adapter == "lora" and conv:
        return "locon"
    return adapter


_NOT_MASS = frozenset({"alpha", "diff_b", "b_norm", "up_bias", "dora_scale"})


def adapter_mass(modules, shapes: dict) -> Counter:
    """{adapter: number of values its modules store for the weight change} (bias diffs, scalars
    and DoRA scales left out): where a file's weight mass is."""
    mass: Counter = Counter()
    for m in modules:
        mass[m.adapter] += sum(math.prod(shapes[key]) for role, key in m.roles.items() if role not in _NOT_MASS)
    return mass


def attached_bias_diffs(modules) -> int:
    """How many modules of another adapter also carry a bias diff (`diff_b`, `b_norm`): ComfyUI
    patches the layer's bias with it, beside the module's weight change."""
    return sum(1 for m in modules if m.adapter != "bias" and ("diff_b" in m.roles or "b_norm" in m.roles))
