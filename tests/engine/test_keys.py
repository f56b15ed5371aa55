"""Key normalization across every naming scheme (spec/block-weights.md §4.1-4.4)."""

from __future__ import annotations

import pytest

from lora_atlas.engine.keys import encoder_name, normalize_module, split_tensor_key


@pytest.mark.parametrize(
    "key, module, role",
    [
        ("lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight", "lora_unet_down_blocks_0_attentions_0_proj_in", "down"),
        ("lora_unet_x.lora_up.weight", "lora_unet_x", "up"),
        ("lora_unet_x.lora_mid.weight", "lora_unet_x", "mid"),
        ("lora_unet_x.alpha", "lora_unet_x", "alpha"),
        ("transformer.transformer_blocks.0.attn.to_q.lora_A.weight", "transformer.transformer_blocks.0.attn.to_q", "down"),
        ("transformer.transformer_blocks.0.attn.to_q.lora_B.default.weight", "transformer.transformer_blocks.0.attn.to_q", "up"),
        ("text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_linear_layer.down.weight",
         "text_encoder.text_model.encoder.layers.0.self_attn.q_proj", "down"),
        ("unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_q_lora.up.weight",
         "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_q", "up"),
        ("double_blocks.0.processor.qkv_lora1.down.weight", "double_blocks.0.processor.qkv_lora1", "down"),
        ("blocks.0.self_attn.q.lora_A", "blocks.0.self_attn.q", "down"),
        ("x.lora.up.weight", "x", "up"),
        ("x.hada_w1_a", "x", "hada_w1_a"),
        ("x.lokr_w2_b", "x", "lokr_w2_b"),
        ("x.a1.weight", "x", "a1"),
        ("x.oft_blocks", "x", "oft_blocks"),
        ("diffusion_model.img_in.lora_B.bias", "diffusion_model.img_in", "up_bias"),
        ("diffusion_model.x.diff_b", "diffusion_model.x", "diff_b"),
        ("x.dora_scale", "x", "dora_scale"),
    ],
)
def test_split_tensor_key(key, module, role):
    assert split_tensor_key(key) == (module, role)


@pytest.mark.parametrize("key", ["model.diffusion_model.input_blocks.0.0.weight", "emb_params", "clip_l", "a.b.c.d.bias"])
def test_non_lora_keys_are_not_split(key):
    assert split_tensor_key(key) is None


@pytest.mark.parametrize(
    "module, component, slot, flat",
    [
        ("lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q", "unet", None, "input_blocks_4_1_transformer_blocks_0_attn1_to_q"),
        ("diffusion_model.input_blocks.4.1.transformer_blocks.0.attn1.to_q", "unet", None, "input_blocks_4_1_transformer_blocks_0_attn1_to_q"),
        ("model.diffusion_model.double_blocks.3.img_attn.qkv", "unet", None, "double_blocks_3_img_attn_qkv"),
        ("lora_transformer_single_transformer_blocks_2_proj_out", "unet", None, "single_transformer_blocks_2_proj_out"),
        ("lycoris_transformer_blocks_0_attn_to_q", "unet", None, "transformer_blocks_0_attn_to_q"),
        ("lora_unet__blocks_0_cross_attn_k", "unet", None, "blocks_0_cross_attn_k"),
        ("unet.up_blocks.1.attentions.0.transformer_blocks.0.attn1.processor.to_out", "unet", None,
         "up_blocks_1_attentions_0_transformer_blocks_0_attn1_to_out_0"),
        ("lora_te_text_model_encoder_layers_0_mlp_fc1", "te", "te", "text_model_encoder_layers_0_mlp_fc1"),
        ("lora_te2_text_model_encoder_layers_31_mlp_fc1", "te", "te2", "text_model_encoder_layers_31_mlp_fc1"),
        ("text_encoder_2.text_model.encoder.layers.0.self_attn.q_proj", "te", "te2", "text_model_encoder_layers_0_self_attn_q_proj"),
        ("text_encoders.clip_l.transformer.text_model.encoder.layers.0.mlp.fc1", "te", "clip_l",
         "transformer_text_model_encoder_layers_0_mlp_fc1"),
        ("blocks.3.ffn.0", "unet", None, "blocks_3_ffn_0"),
    ],
)
def test_normalize_module(module, component, slot, flat):
    name = normalize_module(module)
    assert (name.component, name.slot, name.flat) == (component, slot, flat)


def test_dotted_and_underscored_spellings_meet():
    a = normalize_module("lora_unet_double_blocks_0_img_attn_qkv")
    b = normalize_module("diffusion_model.double_blocks.0.img_attn.qkv")
    assert a.flat == b.flat


@pytest.mark.parametrize(
    "module, arch, encoder",
    [
        ("lora_te_text_model_encoder_layers_0_mlp_fc1", "sd1", "clip_l"),
        ("lora_te_text_model_encoder_layers_0_mlp_fc1", "sd2", "clip_h"),
        ("lora_te1_text_model_encoder_layers_0_mlp_fc1", "sdxl", "clip_l"),
        ("lora_te2_text_model_encoder_layers_0_mlp_fc1", "sdxl", "clip_g"),
        ("lora_te2_encoder_block_0_layer_0_SelfAttention_q", "flux", "t5xxl"),   # OneTrainer Flux
        ("lora_te3_encoder_block_0_layer_0_SelfAttention_q", "sd3", "t5xxl"),
        ("text_encoders.t5xxl.transformer.encoder.block.0.layer.0.SelfAttention.q", "flux", "t5xxl"),
    ],
)
def test_encoder_names(module, arch, encoder):
    assert encoder_name(normalize_module(module), arch) == encoder
