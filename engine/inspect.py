"""Tell what a file in a LoRA folder is: one entry point that every face (CLI, nodes, routes,
library) uses. Reads the header (and the few alpha scalars), never the weights."""

from __future__ import annotations

import os
from collections import Counter, OrderedDict
from dataclasses import asdict, dataclass, field
from operator import attrgetter

from . import architecture as arch_mod
from .adapters import VECTOR_DIFFS, adapter_mass, attached_bias_diffs, summarize as summarize_adapters
from . import metadata as meta_mod
from .errors import (
    BadFileName,
    FullCheckpoint,
    HeaderError,
    InspectError,
    NotALora,
    PickleContainer,
    ShapeMismatch,
    TextualInversion,
)
from .comfy_keymap import dropped_by_inspire, llm_encoder_note, renamed_norm_note, unmapped_by_comfyui
from .keys import ENCODER_BY_VARIANT, encoder_name
from .layout import build_layout
from .safetensors_header import gc_paused, read_header
from .taxonomy import NOTED_BASE_ONLY, block_of, position_labels, rules_for
from .tensors import read_scalars

# What ComfyUI lists in models/loras (folder_paths.supported_pt_extensions).
LORA_EXTENSIONS = (".safetensors", ".sft", ".ckpt", ".pt", ".pt2", ".pth", ".bin", ".pkl")
PICKLE_EXTENSIONS = (".ckpt", ".pt", ".pt2", ".pth", ".bin", ".pkl")
ENCODER_ORDER = ("clip_l", "clip_h", "clip_g", "t5xxl", "umt5xxl")
# `alpha` is the most common value among this many alpha scalars spread evenly over the file:
# each one sits on its own page, and inspection must stay a header read. Analysis reads them all.
ALPHA_SAMPLE = 32


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
    return inspect_with_facts(path)[0]


def utf8_name(path: str) -> bool:
    """Whether `path` is valid UTF-8 (a name the OS gave with undecodable bytes is not: JSON, the
    store and ComfyUI's lists cannot carry it)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def inspect_with_facts(path: str):
    """(Inspection, Header, TableFacts) of one file, read once; header and facts are None when the
    file is not a usable LoRA. Analysis builds on the same facts instead of reading them again."""
    try:
        return _inspect(path)
    except InspectError as exc:
        return Inspection(path=path, ok=False, error=exc.reason, error_code=exc.code), None, None


def _inspect(path: str):
    if not utf8_name(path):
        raise BadFileName("the file name is not valid UTF-8: rename the file (JSON shows its undecodable bytes as \\xNN)")
    ext = os.path.splitext(path)[1].lower()
    if ext in PICKLE_EXTENSIONS:
        raise PickleContainer(f"pickle format ({ext}): not loaded, convert to safetensors")
    try:
        header = read_header(path)
    except HeaderError:
        if _looks_pickled(path):
            raise PickleContainer("pickle format (named .safetensors): not loaded, convert to safetensors") from None
        raise
    with gc_paused():   # thousands of modules, no cycle among them (engine.safetensors_header.gc_paused)
        facts = _table_facts(header)
    meta = header.metadata
    if facts.not_a_lora is not None:
        raise _not_a_lora(header, meta)
    if facts.zero_dim is not None:
        raise ShapeMismatch(facts.zero_dim)

    arch = arch_mod.detect(meta, facts.layout, facts.keys_arch)
    blocks, encoders, inspire_warnings = facts.for_architecture(arch.name, arch.variant)
    alphas = Counter(read_scalars(path, header, facts.alpha_keys).values()) if facts.alpha_keys else Counter()
    tags = meta_mod.tag_frequencies(meta)
    hint, hint_why = meta_mod.base_model_hint(meta, tags) if arch.name == "sdxl" else (None, None)
    evidence = list(arch.evidence)
    if hint_why:
        evidence.append(f"base model hint from {hint_why}")

    return Inspection(
        path=path,
        ok=True,
        architecture=arch.name,
        variant=arch.variant,
        adapter=facts.adapter,
        dora=facts.dora,
        text_encoder=list(encoders),
        base_model_hint=hint,
        blocks=list(blocks),
        rank=facts.rank,
        alpha=_mode(alphas),
        modules=len(facts.layout.modules),
        adapters=dict(facts.adapter_counts),
        title=meta_mod.title(meta),
        trigger_words=meta_mod.trigger_words(meta, tags),
        training_base=meta_mod.training_base(meta),
        has_thumbnail=meta_mod.thumbnail(meta) is not None,
        evidence=evidence + facts.diff_evidence,
        warnings=arch.warnings + facts.leftover_warnings + list(inspire_warnings),
    ), header, facts


class TableFacts:
    """Everything that follows from a file's tensor table alone (not its metadata or values),
    computed once per distinct table and shared by the files that repeat it."""

    def __init__(self, tensors: dict, has_empty: bool = True):
        layout = build_layout(tensors)
        self.layout = layout
        self.not_a_lora = None if layout.modules else True
        self.zero_dim = _zero_dim(layout) if has_empty else None
        self.keys_arch = arch_mod.from_keys(layout) if layout.modules else None
        self.adapter = summarize_adapters(layout.adapter_counts, any(map(_CONV, layout.modules)),
                                          lambda: adapter_mass(layout.modules, layout.shapes))
        named = layout.by_names.get("table_facts")
        if named is None:   # what follows from the names alone, shared by the tables that repeat them
            named = layout.by_names["table_facts"] = _named_facts(layout.modules)
        dora, alpha_keys, attached = named
        counts = dict(layout.adapter_counts)
        if attached:
            counts["bias"] = counts.get("bias", 0) + attached
        self.adapter_counts = tuple(sorted(counts.items()))
        self.diff_evidence = _diff_evidence(self.adapter, counts)
        ranks = Counter(map(_RANK, layout.modules))
        ranks.pop(None, None)
        ranks.pop(0, None)
        self.rank = _mode(ranks)
        self.dora = dora
        self.alpha_keys = alpha_keys
        self.leftover_warnings = [
            f"{len(layout.leftover)} tensor(s) are not LoRA parameters and would not load (e.g. '{layout.leftover[0]}')"
        ] if layout.leftover else []
        self._by_arch: dict = {}
        self._placed: dict = {}

    def placements(self, architecture: str, variant: str | None = None):
        """([(module, text encoder or None, (group, index) or None = BASE)] for every module
        ComfyUI loads, [modules it does not map]): the one placement of modules into blocks.
        `variant` matters only where it picks the text encoder (keys.ENCODER_BY_VARIANT)."""
        variant = variant if architecture in ENCODER_BY_VARIANT else None
        hit = self._placed.get((architecture, variant))
        if hit is None:
            rules = rules_for(architecture)
            unmapped = unmapped_by_comfyui(self.layout, architecture)
            skipped = {id(m) for m in unmapped}
            placed = []
            for m in self.layout.modules:
                if id(m) in skipped:
                    continue
                if m.name.component == "te":
                    placed.append((m, encoder_name(m.name, architecture, variant), None))
                else:
                    placed.append((m, None, block_of(m.name.flat, rules) if rules else None))
            hit = self._placed[(architecture, variant)] = (placed, unmapped)
        return hit

    def for_architecture(self, architecture: str, variant: str | None = None):
        """(Inspire position labels, text encoders, Inspire warnings) for one architecture."""
        variant = variant if architecture in ENCODER_BY_VARIANT else None
        memo = ("for_architecture", architecture, variant)
        hit = self._by_arch.get(memo)
        if hit is None:
            # Only module names go in (blocks, encoders, names ComfyUI or Inspire skip, counts of
            # modules): tables that share their list of names share the answer.
            hit = self.layout.by_names.get(memo)
            if hit is not None:
                self._by_arch[memo] = hit
                return hit
            placed, unmapped = self.placements(architecture, variant)
            unseen = {id(m) for m in dropped_by_inspire(self.layout)}  # loaded by ComfyUI, not by Inspire
            blocks = {b for m, enc, b in placed if b is not None and id(m) not in unseen}
            encoders = {enc for _, enc, _ in placed if enc is not None}
            ordered = sorted(encoders, key=lambda e: (ENCODER_ORDER.index(e) if e in ENCODER_ORDER else 99, e))
            warnings = _inspire_warnings(architecture, self.layout)
            if unmapped:
                warnings.insert(0, f"{len(unmapped)} of {len(self.layout.modules)} module(s) use names ComfyUI does not map "
                                   f"and would not load (e.g. '{unmapped[0].name.raw}')")
                warnings[1:1] = renamed_norm_note(unmapped, architecture) + llm_encoder_note(unmapped, architecture)
            hit = (tuple(position_labels(blocks)), tuple(ordered), tuple(warnings))
            self._by_arch[memo] = self.layout.by_names[memo] = hit
        return hit


_CONV = attrgetter("conv")
_RANK = attrgetter("rank")


def _named_facts(modules) -> tuple:
    """(DoRA?, the alpha scalars inspection reads, modules with a bias diff beside another adapter):
    facts of a table that follow from its tensor names alone."""
    dora = any("dora_scale" in m.roles or "magnitude" in m.roles for m in modules)
    alpha_keys = sorted(m.roles["alpha"] for m in modules if "alpha" in m.roles)
    step = max(1, len(alpha_keys) // ALPHA_SAMPLE)
    return dora, alpha_keys[::step][:ALPHA_SAMPLE], attached_bias_diffs(modules)


_FACTS_CACHE: OrderedDict = OrderedDict()
_FACTS_CACHE_SIZE = 512


def _table_facts(header) -> TableFacts:
    digest = header.table_digest
    if digest is None:
        return TableFacts(header.tensors, header.has_empty)
    facts = _FACTS_CACHE.get(digest)
    if facts is None:
        facts = _FACTS_CACHE[digest] = TableFacts(header.tensors, header.has_empty)
        if len(_FACTS_CACHE) > _FACTS_CACHE_SIZE:
            _FACTS_CACHE.popitem(last=False)
    else:
        _FACTS_CACHE.move_to_end(digest)
    return facts


def _diff_evidence(adapter, counts: dict) -> list:
    """The line that says a LoRA-like file also carries bias/norm diffs (ComfyUI applies them;
    they are counted in `adapters` and measured by `analyze`, but the file stays what its weight
    mass is)."""
    carried = [f"{counts[k]} {k}" for k in VECTOR_DIFFS if counts.get(k)]
    if not carried or adapter in ("full", None):
        return []
    return [f"adapter {adapter} by weight mass; also carries {' and '.join(carried)} diff(s) that ComfyUI applies"]


def _zero_dim(layout) -> str | None:
    """Why the file is `bad_shapes` if one of its LoRA tensors has a zero dimension, else None.
    Such a factor holds no values: ComfyUI cannot apply it (alpha / rank, reshapes) and every
    figure of the analysis would divide by it; the header says so, before any maths runs.
    Called only for a table with an empty tensor (Header.has_empty, found while it was parsed)."""
    for m in layout.modules:
        for key in m.roles.values():
            shape = layout.shapes[key]
            if 0 in shape:
                return f"tensor '{key}': shape {list(shape)} has a zero dimension (no values to apply)"
    return None


def _mode(counter: Counter):
    """Most common value, ties to the larger (deterministic)."""
    if not counter:
        return None
    return max(counter.items(), key=lambda kv: (kv[1], kv[0]))[0]


def _inspire_warnings(architecture: str, layout) -> list:
    """Where Inspire's block-weight node is known to load less than ComfyUI (§1.3 steps 1 and 6)."""
    out = []
    if any(".processor.qkv_lora" in m.name.raw or ".processor.proj_lora" in m.name.raw for m in layout.modules):
        out.append("XLabs processor names: Inspire's block-weight node loads none of them (ComfyUI's own loader converts "
                   "them only when double block 18 and single block 37 are present)")
    if architecture == "sd3" and any("context_block" in m.name.flat for m in layout.unet):
        out.append("Inspire's block-weight node silently drops SD3 context_block patches")
    if architecture == "wan" and any(m.name.flat.startswith("text_embedding") for m in layout.unet):
        out.append("Inspire's block-weight node silently drops WAN text_embedding patches")
    if architecture in NOTED_BASE_ONLY:
        out.append(f"Inspire's block-weight node has no block layout for {architecture}: its vector has the BASE "
                   "position only (one strength for the whole file)")
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
        vectors = sum(header.tensors[n].shape[0] for n in names if len(header.tensors[n].shape) == 2)
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
