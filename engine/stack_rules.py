"""Which LoRAs may share a stack: one table of rules for bases that share key names.

A plan loads every LoRA on one base checkpoint. Different families (engine.architecture.FAMILY
roots) never mix: the planner refuses. Within a family, LoRAs can still be trained on different
bases whose keys ComfyUI maps alike; each rule below names the facet that tells those bases
apart and whether mixing them is refused (other shapes: most keys would not load) or only
warned about (they load, but each LoRA may look off on the others' checkpoint).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class MixRule:
    family: str
    facet: str           # a key of FACETS
    verdict: str         # "refuse" or "warn"
    message: str         # formatted with {values}: the distinct facet values, sorted, comma-joined


def _variant_match(pattern: str, default=None):
    rx = re.compile(pattern)

    def facet(insp):
        hit = rx.search(insp.variant or "")
        return hit.group(1) if hit else default
    return facet


# facet name -> Inspection -> value (None: not known, never counted as a difference)
FACETS = {
    "base_model_hint": lambda insp: insp.base_model_hint,
    "architecture": lambda insp: insp.architecture,
    "wan_size": _variant_match(r"(1\.3B|5B|14B)"),
    "wan_generation": _variant_match(r"\b(2\.[12])\b"),
    "wan_expert": _variant_match(r"\b(high-noise|low-noise)\b"),
    "flux2_size": _variant_match(r"\b(dev|klein-4b|klein-9b)\b"),
    "qwen_edit": _variant_match(r"\b(edit)\b", default="image"),
}

RULES = (
    MixRule("sdxl", "base_model_hint", "warn", "SDXL LoRAs trained on different bases ({values}): they load together, "
            "but each may look off on the others' checkpoint"),
    MixRule("flux", "architecture", "warn", "Flux.1-layout LoRAs trained on different bases ({values}): ComfyUI maps "
            "their keys on either, but each may look off on the others' checkpoint (Chroma has no modulation layers: "
            "a Flux LoRA's modulation keys do not load on it)"),
    MixRule("ltxv", "architecture", "warn", "LTX LoRAs trained on different bases ({values}): the video blocks share "
            "names, but each may look off on the others' checkpoint"),
    MixRule("wan", "wan_size", "refuse", "WAN LoRAs for different model sizes ({values}): their layers have other "
            "shapes and would not load on one checkpoint"),
    MixRule("wan", "wan_generation", "warn", "WAN LoRAs trained on different generations ({values}): they load "
            "together, but each may look off on the others' checkpoint"),
    MixRule("wan", "wan_expert", "warn", "WAN 2.2 LoRAs for different experts ({values}): the high-noise and "
            "low-noise models are separate checkpoints, each expert's LoRA belongs on its own model"),
    MixRule("flux2", "flux2_size", "refuse", "Flux.2 LoRAs for different model sizes ({values}): their layers "
            "have other shapes and would not load on one checkpoint"),
    MixRule("qwen_image", "qwen_edit", "warn", "Qwen-Image and Qwen-Image-Edit LoRAs in one stack: they load "
            "together, but each may look off on the others' checkpoint"),
)


def mixed_bases(family: str, inspections) -> tuple[list, list]:
    """([refusals], [warnings]) for a stack of one `family`, from RULES."""
    refusals, warnings = [], []
    for rule in RULES:
        if rule.family != family:
            continue
        get = FACETS[rule.facet]
        values = sorted({v for v in (get(i) for i in inspections) if v})
        if len(values) > 1:
            (refusals if rule.verdict == "refuse" else warnings).append(rule.message.format(values=", ".join(values)))
    return refusals, warnings
