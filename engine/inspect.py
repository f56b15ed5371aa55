"""Tell what a file in a LoRA folder is: one entry point that every face (CLI, nodes, routes,
library) uses. Reads the header (and the few alpha scalars), never the weights."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import asdict, dataclass, field

from . import architecture as arch_mod
from .adapters import summarize as summarize_adapters
from . import metadata as meta_mod
from .errors import (
    FullCheckpoint,
    HeaderError,
    InspectError,
    NotALora,
    PickleContainer,
    TextualInversion,
)
from .keys import encoder_name
from .layout import build_layout
from .safetensors_header import read_header
from .taxonomy import block_of, position_labels, rules_for
from .tensors import read_scalars

# What ComfyUI lists in models/loras (folder_paths.supported_pt_extensions).
LORA_EXTENSIONS = (".safetensors", ".sft", ".ckpt", ".pt", ".pt2", ".pth", ".bin", ".pkl")
PICKLE_EXTENSIONS = (".ckpt", ".pt", ".pt2", ".pth", ".bin", ".pkl")
ENCODER_ORDER = ("clip_l", "clip_h", "clip_g", "t5xxl", "umt5xxl")


@dataclass
class Inspection:
    path: str
    ok: bool
    error: str | None = None
    error_code: str | None = None
    architecture: str | None = None
    variant: str | None = None
    adapter: str | None = None
    dora: bool | None = None
    text_encoder: list | None = None
    base_model_hint: str | None = None
    blocks: list | None = None
    rank: int | None = None
    alpha: float | None = None
    modules: int | None = None
    adapters: dict | None = None
    title: str | None = None
    trigger_words: list | None = None
    training_base: str | None = None
    has_thumbnail: bool | None = None
    evidence: list = field(default_factory=list)
    warnings: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def inspect_file(path: str) -> Inspection:
    """Classify one file; every failure becomes ok=False with a one-line reason."""
    try:
        return _inspect(path)
    except InspectError as exc:
        return Inspection(path=path, ok=False, error=exc.reason, error_code=exc.code)


def _inspect(path: str) -> Inspection:
    ext = os.path.splitext(path)[1].lower()
    if ext in PICKLE_EXTENSIONS:
        raise PickleContainer(f"pickle format ({ext}): not loaded, convert to safetensors")
    try:
        header = read_header(path)
    except HeaderError:
        if _looks_pickled(path):
            raise PickleContainer("pickle format (named .safetensors): not loaded, convert to safetensors") from None
        raise
    layout = build_layout(header.tensors)
    meta = header.metadata
    if not layout.modules:
        raise _not_a_lora(header, meta)

    arch = arch_mod.detect(meta, layout)
    rules = rules_for(arch.name)
    blocks = set()
    encoders = set()
    for m in layout.modules:
        if m.name.component == "te":
            encoders.add(encoder_name(m.name, arch.name))
        elif rules:
            block = block_of(m.name.flat, rules)
            if block is not None:
                blocks.add(block)

    adapter = summarize_adapters(layout.adapter_counts, any(m.conv for m in layout.modules))
    ranks = Counter(m.rank for m in layout.modules if m.rank)
    alpha_keys = [m.roles["alpha"] for m in layout.modules if "alpha" in m.roles]
    alphas = Counter(read_scalars(path, header, alpha_keys).values()) if alpha_keys else Counter()
    tags = meta_mod.tag_frequencies(meta)
    hint, hint_why = meta_mod.base_model_hint(meta, tags) if arch.name == "sdxl" else (None, None)

    warnings = list(arch.warnings)
    if layout.leftover:
        warnings.append(
            f"{len(layout.leftover)} tensor(s) are not LoRA parameters and would not load (e.g. '{layout.leftover[0]}')"
        )
    warnings.extend(_inspire_warnings(arch.name, layout))
    evidence = list(arch.evidence)
    if hint_why:
        evidence.append(f"base model hint from {hint_why}")

    return Inspection(
        path=path,
        ok=True,
        architecture=arch.name,
        variant=arch.variant,
        adapter=adapter,
        dora=any("dora_scale" in m.roles or "magnitude" in m.roles for m in layout.modules),
        text_encoder=sorted(encoders, key=lambda e: (ENCODER_ORDER.index(e) if e in ENCODER_ORDER else 99, e)),
        base_model_hint=hint,
        blocks=position_labels(blocks),
        rank=_mode(ranks),
        alpha=_mode(alphas),
        modules=len(layout.modules),
        adapters=dict(sorted(layout.adapter_counts.items())),
        title=meta_mod.title(meta),
        trigger_words=meta_mod.trigger_words(meta, tags),
        training_base=meta_mod.training_base(meta),
        has_thumbnail=meta_mod.thumbnail(meta) is not None,
        evidence=evidence,
        warnings=warnings,
    )


def _mode(counter: Counter):
    """Most common value, ties to the larger (deterministic)."""
    if not counter:
        return None
    return max(counter.items(), key=lambda kv: (kv[1], kv[0]))[0]


def _inspire_warnings(architecture: str, layout) -> list:
    """Where Inspire's block-weight node is known to load less than ComfyUI (§1.3 steps 1 and 6)."""
    out = []
    if any(".processor.qkv_lora" in m.name.raw or ".processor.proj_lora" in m.name.raw for m in layout.modules):
        out.append("XLabs processor names: ComfyUI converts them on load, Inspire's block-weight node loads none of them")
    if architecture == "sd3" and any("context_block" in m.name.flat for m in layout.unet):
        out.append("Inspire's block-weight node silently drops SD3 context_block patches")
    if architecture == "wan" and any(m.name.flat.startswith("text_embedding") for m in layout.unet):
        out.append("Inspire's block-weight node silently drops WAN text_embedding patches")
    return out


_EMBEDDING_KEYS = {"emb_params", "clip_l", "clip_g", "string_to_param", "string_to_token", "t5xxl"}
_CHECKPOINT_MARKS = (
    "model.diffusion_model.", "first_stage_model.", "cond_stage_model.", "conditioner.embedders",
    "double_blocks.", "single_blocks.", "joint_blocks.", "transformer_blocks.", "blocks.",
    "down_blocks.", "input_blocks.", "text_model.encoder", "encoder.down", "decoder.up",
)


def _not_a_lora(header, meta) -> NotALora:
    names = list(header.tensors)
    arch = meta.get("modelspec.architecture", "")
    roots = {n.split(".")[0] for n in names}
    if arch.endswith("/textual-inversion") or (names and len(names) <= 4 and roots <= _EMBEDDING_KEYS):
        vectors = sum(header.tensors[n][1][0] for n in names if len(header.tensors[n][1]) == 2)
        return TextualInversion(
            f"textual-inversion embedding ({vectors} vector(s) for {', '.join(sorted(roots))}): "
            "not a LoRA, move it to models/embeddings"
        )
    weights = [n for n in names if n.endswith((".weight", ".bias"))]
    if len(weights) >= 20 and any(n.startswith(_CHECKPOINT_MARKS) or f".{_CHECKPOINT_MARKS[0]}" in n for n in weights):
        return FullCheckpoint(
            f"full model weights ({len(names)} tensors, e.g. '{weights[0]}'): not a LoRA, "
            "move it to models/checkpoints or models/diffusion_models"
        )
    if not names:
        return NotALora("no tensors in the file")
    return NotALora(f"no LoRA tensors ({len(names)} tensor(s), e.g. '{sorted(names)[0]}')")


def _looks_pickled(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(2)
    except OSError:
        return False
    return head == b"PK" or (len(head) == 2 and head[0] == 0x80 and head[1] in (2, 3, 4, 5))


def iter_lora_files(paths):
    """Expand PATH arguments: a folder means its LoRA files, recursively, sorted by path; hidden
    folders (the store) are skipped. Files given by name are kept whatever their extension."""
    for path in paths:
        if os.path.isdir(path):
            found = []
            for root, dirs, files in os.walk(path, followlinks=False):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in files:
                    if name.lower().endswith(LORA_EXTENSIONS) and not name.startswith("."):
                        found.append(os.path.join(root, name))
            yield from sorted(found)
        else:
            yield path
