"""Which adapter a module uses, decided by a registry of small detectors.

Each detector looks at the parameter roles one module has (engine.keys roles) and claims the
module or passes. They are tried in order; a module nobody claims is reported as leftover, never
silently ignored (the way ComfyUI's loader logs "lora key not loaded").
"""

from __future__ import annotations

from collections import Counter

ADAPTERS = ("lora", "locon", "loha", "lokr", "glora", "oft", "boft", "full")


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
    if "diff" in roles or "w_norm" in roles or "set_weight" in roles:
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


def summarize(adapters: Counter, conv: bool) -> str | None:
    """The file's adapter: the one most modules use (bias-only patches count as full)."""
    main = [(n, a) for a, n in adapters.items() if a != "bias"]
    if not main:
        return "full" if adapters else None
    main.sort(key=lambda t: (-t[0], ADAPTERS.index(t[1])))
    adapter = main[0][1]
    if adapter == "lora" and conv:
        return "locon"
    return adapter
