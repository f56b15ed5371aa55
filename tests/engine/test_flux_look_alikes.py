"""Flux-layout files whose base the names alone do not give (issue 14 §1 leftovers): Flux.2 in
diffusers names, Flux.1-shaped files that fit Chroma or Flux.2 Klein 4B as well, and the text
encoder a Flux.2 file's kohya `lora_te_` keys patch."""

from __future__ import annotations

import pytest

from lora_atlas.demo.model_layers import flux2_layers, flux_diffusers_layers, llm_te_layers
from lora_atlas.demo.synthetic_loras import Fixture, Part, write_fixture
from lora_atlas.engine.inspect import inspect_file
from lora_atlas.engine.keys import encoder_name, normalize_module

LOOK_ALIKE = "but the tensors fit"


def _fixture(tmp_path, name, fixture, **kw):
    return write_fixture(fixture, str(tmp_path / f"{name}.safetensors"), sparse=True, **kw)


def test_flux1_lokr_ff_linear_in_stays_flux(tmp_path):
    """`ff.linear_in` is also SimpleTuner LyCORIS's name of Flux.1's MLP: at Flux.1's 4 x width it
    is Flux.1, at Flux.2's gated 6 x width Flux.2."""
    layers = [(p.replace("ff.net.0.proj", "ff.linear_in").replace("ff.net.2", "ff.linear_out"), o, i, k)
              for p, o, i, k in flux_diffusers_layers(doubles=range(19), singles=())]
    flux1 = inspect_file(_fixture(tmp_path, "lokr", Fixture("Flux.1 LoKr, linear_in names", [Part(layers, "lycoris", "lokr")])))
    assert (flux1.architecture, flux1.variant, flux1.adapter) == ("flux", "double-only", "lokr")
    assert not any(LOOK_ALIKE in w for w in flux1.warnings)   # norm1.linear: Flux.1's modulation
    gated = [(p, 6 * i if p.endswith("linear_in") else o, 3 * o if p.endswith("linear_out") else i, k) for p, o, i, k in layers
             if "ff." in p or "ff_context." in p]
    flux2 = inspect_file(_fixture(tmp_path, "gated", Fixture("Flux.2 Klein 4B MLP only, diffusers", [Part(gated, "transformer")])))
    assert (flux2.architecture, flux2.variant) == ("flux2", "klein-4b")


def test_flux2_diffusers_names_take_flux2_positions(lora_files):
    r = inspect_file(lora_files("flux2_klein4b_peft"))
    assert "to_qkv_mlp_proj" in r.evidence[0] and "hidden 3072" in r.evidence[0]
    assert r.blocks[:2] == ["BASE", "DOUBLE0"] and r.blocks[-1] == "SINGLE19" and not r.warnings


def test_flux2_diffusers_modulation_names_do_not_load(lora_files):
    """diffusers' `double_stream_modulation_img.linear`: ComfyUI maps Flux.2's shared modulation
    only in its own names (`.lin`), so these modules would not load; the blocks do."""
    r = inspect_file(lora_files("flux2_dev_peft"))
    assert (r.architecture, r.variant, r.blocks) == ("flux2", "dev", ["BASE"] + [f"DOUBLE{i}" for i in range(8)])
    assert r.warnings[0].startswith("3 of 99 module(s) use names ComfyUI does not map") and "stream_modulation" in r.warnings[0]


@pytest.mark.parametrize("name, candidates, absent", [
    ("chroma_nometa", ["Chroma"], ["Klein"]),
    ("flux2_klein4b_attn", ["Chroma", "Flux.2 Klein 4B", "attention only"], []),
])
def test_flux1_shaped_files_name_the_other_bases(lora_files, name, candidates, absent):
    r = inspect_file(lora_files(name))
    assert r.architecture == "flux"
    [warning] = [w for w in r.warnings if LOOK_ALIKE in w]
    assert all(c in warning for c in candidates) and not any(a in warning for a in absent), warning
    assert "modelspec.architecture" in warning and "ss_base_model_version" in warning


@pytest.mark.parametrize("name", ["flux_double", "flux_single", "flux_peft", "flux_partial", "flux_comfy_extract"])
def test_flux1_files_with_modulation_say_nothing(lora_files, name):
    r = inspect_file(lora_files(name))
    assert r.architecture == "flux" and not any(LOOK_ALIKE in w for w in r.warnings), r.warnings


@pytest.mark.parametrize("name, meta, expected", [
    ("chroma_nometa", {"modelspec.architecture": "chroma/lora"}, ("chroma", "full", [])),
    ("chroma_nometa", {"ss_base_model_version": "flux1"}, ("flux", "full", [])),
    ("flux2_klein4b_attn", {"modelspec.architecture": "flux-2-klein-4b/lora"}, ("flux2", "klein-4b", [])),
    ("flux2_klein4b_attn", {"ss_base_model_version": "flux2"}, ("flux2", "klein-4b", [])),
    ("flux2_klein4b_attn", {"modelspec.architecture": "chroma/lora"}, ("chroma", "partial double-only", [])),
    # Flux.2 dev is 6144 wide: metadata naming it contradicts these 3072-wide tensors
    ("flux2_klein4b_attn", {"modelspec.architecture": "flux-2-dev/lora"}, ("flux", "partial double-only", ["metadata says flux2"])),
])
def test_metadata_settles_the_base(lora_files, name, meta, expected):
    r = inspect_file(lora_files(name, metadata=tuple(meta.items())))
    arch, variant, warned = expected
    assert (r.architecture, r.variant) == (arch, variant)
    assert not any(LOOK_ALIKE in w for w in r.warnings), r.warnings
    assert [w for w in warned if not any(w in x for x in r.warnings)] == []
    assert bool(r.warnings) == bool(warned)


def test_flux2_clip_named_text_encoder_keys_do_not_load(lora_files):
    r = inspect_file(lora_files("flux2_klein4b_clip_te"))
    assert (r.architecture, r.variant, r.text_encoder) == ("flux2", "klein-4b", [])
    assert r.warnings[0].startswith("12 of 92 module(s) use names ComfyUI does not map")
    assert "text-encoder module(s) named for CLIP/T5" in r.warnings[1] and "lora_te_layers_N_" in r.warnings[1]


def test_attention_only_klein_with_its_qwen3_encoder_is_flux2(lora_files):
    """Flux.1's CLIP-L and T5 have no `layers.N.self_attn`: an LLM text encoder's layers beside
    Flux.1-shaped attention settle Flux.2 Klein 4B without metadata."""
    r = inspect_file(lora_files("flux2_klein4b_attn_te"))
    assert (r.architecture, r.variant, r.text_encoder, r.warnings) == ("flux2", "klein-4b", ["qwen3_4b"], [])
    assert "LLM text encoder" in r.evidence[0]


@pytest.mark.parametrize("name, unmapped, note", [
    ("z_image_clip_te", "6 of 246", "z_image's text encoder is one LLM"),
    ("hunyuan_video15_te", "8 of 548", "only in its own names (`text_encoders."),
])
def test_llm_encoder_families_refuse_other_text_encoder_names(lora_files, name, unmapped, note):
    """ComfyUI 0.33.0 maps kohya `lora_te_` keys of a one-LLM family only in the LLM's layer names,
    and none for HunyuanVideo 1.5 and LTX-2 (two text encoders): checked on the real key map by
    tests/integration/test_comfyui_keymap.py."""
    r = inspect_file(lora_files(name))
    assert r.text_encoder == []
    assert r.warnings[0].startswith(f"{unmapped} module(s) use names ComfyUI does not map") and note in r.warnings[1]


def test_flux2_encoder_follows_the_size_of_tables_that_share_names(tmp_path):
    """Two tables with one list of names (memoized per names) and different widths: each gets its
    own size and text encoder."""
    klein4 = Fixture("Klein 4B widths under Klein 9B's block count", [Part(flux2_layers(3072, 8, 24, False), "kohya_unet"),
                                                                     Part(llm_te_layers(4, 2560, 4096, 1024), "kohya_te")])
    nine = inspect_file(_fixture(tmp_path, "nine", "flux2_klein9b_kohya"))
    four = inspect_file(_fixture(tmp_path, "four", klein4))
    assert (nine.variant, nine.text_encoder) == ("klein-9b", ["qwen3_8b"])
    assert (four.variant, four.text_encoder) == ("klein-4b", ["qwen3_4b"])
    assert nine.blocks == four.blocks


@pytest.mark.parametrize("module, variant, encoder", [
    ("lora_te_layers_0_self_attn_q_proj", "dev", "mistral3_24b"),
    ("lora_te_layers_0_self_attn_q_proj", "klein-4b", "qwen3_4b"),
    ("lora_te_layers_0_self_attn_q_proj", "klein-9b, klein-4b", "qwen3_8b"),
    ("lora_te_layers_0_self_attn_q_proj", None, "mistral3_24b"),
    ("text_encoders.qwen3_4b.transformer.model.layers.0.self_attn.q_proj", "dev", "qwen3_4b"),
])
def test_flux2_encoder_names(module, variant, encoder):
    assert encoder_name(normalize_module(module), "flux2", variant) == encoder
