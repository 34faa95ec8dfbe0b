"""zeroshot-sd15-inpaint: SD inpainting U-Net + motion adapter + IP-Adapter, from tiny public-layout parts."""
import json
import shutil

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL, MotionAdapter, UNet2DConditionModel
from safetensors.torch import load_file
from transformers import CLIPTextConfig, CLIPTextModel, CLIPVisionConfig, CLIPVisionModelWithProjection

from actanywhere.engine.errors import ModelError
from actanywhere.engine.model.ip_adapter import ip_adapter_state_dict, set_ip_adapter_scale
from actanywhere.engine.model.pipeline import ActAnywherePipeline
from actanywhere.engine.model.profile import INPAINT_ORDER, IP_ADAPTER
from actanywhere.engine.model.profile_files import (
    CHECKSUM_FILE, IP_ADAPTER_FILE, TEXT_EMBEDS_FILE, expected_files, load_pretrained, load_profile,
    verify_checksums,
)
from actanywhere.engine.model.zeroshot import empty_prompt_embeds, init_zeroshot_sd15_inpaint
from reproducible import assert_same_result

CROSS, IMAGE_EMBED = 32, 16  # the IP-Adapter maps 16-d image embeddings to 4 tokens of 32
FRAMES, SIZE = 4, 16


def write_tokenizer(folder):
    """A CLIP BPE tokenizer in runwayml/stable-diffusion-inpainting's tokenizer/ layout, written offline."""
    folder.mkdir(parents=True)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in "abcdefghijklmnopqrstuvwxyz":
        vocab[char] = len(vocab)
        vocab[char + "</w>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "CLIPTokenizer", "model_max_length": 77, "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}))


def tiny_ip_adapter(unet2d, generator):
    """An IP-Adapter state dict in h94's layout for `unet2d`: keys 1, 3, 5... over its cross-attention."""
    noise = lambda *shape: torch.randn(*shape, generator=generator)  # noqa: E731
    image_proj = {"proj.weight": noise(4 * CROSS, IMAGE_EMBED) * 0.3, "proj.bias": noise(4 * CROSS) * 0.1,
                  "norm.weight": 1 + 0.1 * noise(CROSS), "norm.bias": 0.1 * noise(CROSS)}
    ip_adapter = {}
    names = [n for n in unet2d.attn_processors if n.endswith("attn2.processor")]
    for index, name in enumerate(names):
        hidden = unet2d.get_submodule(name[: -len(".processor")]).to_k.out_features
        ip_adapter["%s.to_k_ip.weight" % (2 * index + 1,)] = noise(hidden, CROSS) * 0.3
        ip_adapter["%s.to_v_ip.weight" % (2 * index + 1,)] = noise(hidden, CROSS) * 0.3
    return {"image_proj": image_proj, "ip_adapter": ip_adapter}


@pytest.fixture(scope="module")
def public(tmp_path_factory):
    """Tiny stand-ins for runwayml/stable-diffusion-inpainting, the motion adapter and h94/IP-Adapter."""
    root = tmp_path_factory.mktemp("public")
    generator = torch.Generator().manual_seed(0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        unet2d = UNet2DConditionModel(
            in_channels=9, block_out_channels=(32, 64), layers_per_block=1, norm_num_groups=16,
            cross_attention_dim=CROSS, attention_head_dim=2, sample_size=8,
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"))
        adapter = MotionAdapter(block_out_channels=(32, 64), motion_layers_per_block=1, motion_num_attention_heads=2,
                                motion_norm_num_groups=16, motion_max_seq_length=32)
        with torch.no_grad():  # AnimateDiff zero-initialises its output projections: make them matter
            for parameter in adapter.parameters():
                parameter.add_(0.01 * torch.randn_like(parameter))
        vae = AutoencoderKL(block_out_channels=(16, 32), norm_num_groups=16, latent_channels=4,
                            down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2)
        text_encoder = CLIPTextModel(CLIPTextConfig(
            hidden_size=CROSS, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, vocab_size=60,
            max_position_embeddings=77, bos_token_id=0, eos_token_id=1, pad_token_id=1))
        image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
            hidden_size=32, intermediate_size=64, projection_dim=IMAGE_EMBED, num_hidden_layers=2,
            num_attention_heads=4, image_size=32, patch_size=8))
    inpaint = root / "stable-diffusion-inpainting"
    unet2d.save_pretrained(inpaint / "unet")
    vae.save_pretrained(inpaint / "vae")
    text_encoder.save_pretrained(inpaint / "text_encoder")
    write_tokenizer(inpaint / "tokenizer")
    adapter.save_pretrained(root / "motion-adapter")
    ip_state = tiny_ip_adapter(unet2d, generator)
    (root / "IP-Adapter" / "models").mkdir(parents=True)
    torch.save(ip_state, root / "IP-Adapter" / "models" / "ip-adapter_sd15.bin")
    image_encoder.save_pretrained(root / "IP-Adapter" / "models" / "image_encoder")
    return root, unet2d, ip_state


def init_args(root):
    return (root / "stable-diffusion-inpainting", root / "motion-adapter",
            root / "IP-Adapter" / "models" / "ip-adapter_sd15.bin", root / "IP-Adapter" / "models" / "image_encoder")


@pytest.fixture(scope="module")
def profile_dir(public, tmp_path_factory):
    out = tmp_path_factory.mktemp("zeroshot")
    init_zeroshot_sd15_inpaint(*init_args(public[0]), out)
    return out


@pytest.fixture(scope="module")
def pipe(profile_dir):
    return ActAnywherePipeline(load_profile("zeroshot-sd15-inpaint", path=profile_dir))


def inputs(seed=0):
    rng = np.random.default_rng(seed)
    matte = np.zeros((FRAMES, SIZE, SIZE), np.float32)
    matte[:, 4:12, 4:12] = 1
    return rng.random((FRAMES, SIZE, SIZE, 3), dtype=np.float32), matte, rng.random((24, 20, 3), dtype=np.float32)


def noise_for(pipe, conditioning, guidance, embeds=None):
    latents = torch.randn(1, 4, FRAMES, SIZE // 2, SIZE // 2, generator=torch.Generator().manual_seed(1))
    if embeds is not None:
        conditioning = type(conditioning)(**{**conditioning.__dict__, "image_embeds": embeds})
    with torch.no_grad():
        return pipe.predict_noise(latents, conditioning, torch.tensor(500), guidance)


def test_profile_directory(public, profile_dir):
    root = public[0]
    for name in expected_files(IP_ADAPTER) + [CHECKSUM_FILE]:
        assert (profile_dir / name).is_file(), name
    model = load_pretrained(profile_dir)
    assert model.profile.name == "zeroshot-sd15-inpaint"
    assert model.profile.channel_order == INPAINT_ORDER and model.profile.conditioning == IP_ADAPTER
    assert model.profile.mask_downsample == "nearest" and model.profile.background_grey == 0.5
    assert model.unet.config.in_channels == 9
    # unet/ holds the plain U-Net: the IP-Adapter lives in its own file only.
    assert json.loads((profile_dir / "unet" / "config.json").read_text())["encoder_hid_dim_type"] is None
    unet_keys = load_file(str(profile_dir / "unet" / "diffusion_pytorch_model.safetensors"))
    assert not [k for k in unet_keys if "_ip" in k or "encoder_hid_proj" in k]
    # The empty prompt's embedding, computed once from text_encoder/ + tokenizer/.
    expected = empty_prompt_embeds(root / "stable-diffusion-inpainting" / "text_encoder",
                                   root / "stable-diffusion-inpainting" / "tokenizer")
    assert model.text_embeds.shape == (1, 77, CROSS)
    assert_same_result(model.text_embeds, expected)  # two runs of the text encoder (reproducible.py)
    verify_checksums(profile_dir)
    assert IP_ADAPTER_FILE in (profile_dir / CHECKSUM_FILE).read_text()


def test_ip_adapter_is_attached_as_diffusers_attaches_it_to_the_2d_unet(public, pipe):
    _, unet2d, ip_state = public
    reference = type(unet2d).from_config(unet2d.config)
    reference._load_ip_adapter_weights([ip_state], low_cpu_mem_usage=False)
    ours = pipe.model.unet.attn_processors
    checked = 0
    for name, processor in reference.attn_processors.items():
        if hasattr(processor, "to_k_ip"):
            torch.testing.assert_close(ours[name].to_k_ip[0].weight, processor.to_k_ip[0].weight, rtol=0, atol=0)
            torch.testing.assert_close(ours[name].to_v_ip[0].weight, processor.to_v_ip[0].weight, rtol=0, atol=0)
            checked += 1
    assert checked == len(ip_state["ip_adapter"]) // 2 == 4
    # And back to h94's layout, exactly what was read.
    extracted = ip_adapter_state_dict(pipe.model.unet)
    for group in ("image_proj", "ip_adapter"):
        assert set(extracted[group]) == set(ip_state[group])
        for key, tensor in ip_state[group].items():
            assert torch.equal(extracted[group][key], tensor), "%s.%s" % (group, key)


def test_mask_and_foreground_follow_sd_inpainting(pipe):
    """mask = 1 where to paint; masked image = image * (mask < 0.5) in [-1, 1], at the matte's binary pixels."""
    foreground, matte, condition = inputs()
    conditioning = pipe.encode_conditioning(foreground, matte, condition)
    mask = 1 - torch.from_numpy(matte)[:, None]
    image = torch.from_numpy(foreground).permute(0, 3, 1, 2) * 2 - 1
    masked_image = image * (mask < 0.5)
    with torch.no_grad():
        expected = pipe.model.vae.encode(masked_image).latent_dist.mode() * pipe.profile.vae_scaling_factor
    torch.testing.assert_close(conditioning.fg_latents[0].permute(1, 0, 2, 3), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(conditioning.mask[0, 0], mask[:, 0, ::2, ::2])  # nearest, as SD inpainting
    sample = pipe.model_input(torch.zeros(1, 4, FRAMES, SIZE // 2, SIZE // 2), conditioning)
    torch.testing.assert_close(sample[:, 4:5], conditioning.mask)
    torch.testing.assert_close(sample[:, 5:9], conditioning.fg_latents)


def test_condition_image_steers_the_output(pipe):
    foreground, matte, condition = inputs()
    a = pipe(foreground, matte, condition, steps=2, guidance_scale=3.0, seed=0)
    b = pipe(foreground, matte, 1 - condition, steps=2, guidance_scale=3.0, seed=0)
    assert a.shape == (FRAMES, SIZE, SIZE, 3) and np.isfinite(a).all()
    assert np.abs(a - b).max() > 1e-4


def test_unconditional_branch_is_the_zero_image_embedding(pipe):
    foreground, matte, condition = inputs()
    conditioning = pipe.encode_conditioning(foreground, matte, condition)
    assert conditioning.text_embeds.shape == (1, 77, CROSS)
    assert not conditioning.uncond_embeds.any() and conditioning.image_embeds.shape == (1, 1, IMAGE_EMBED)
    cond = noise_for(pipe, conditioning, 1.0)
    uncond = noise_for(pipe, conditioning, 1.0, embeds=torch.zeros_like(conditioning.image_embeds))
    guided = noise_for(pipe, conditioning, 4.0)
    torch.testing.assert_close(guided, uncond + 4.0 * (cond - uncond), rtol=1e-4, atol=1e-5)
    assert (cond - uncond).abs().max() > 1e-2
    # The IP-Adapter is the image's only way in: at scale 0 the image no longer matters.
    set_ip_adapter_scale(pipe.model.unet, 0.0)
    try:
        # Two U-Net runs: equal up to float rounding, where the image's part above (cond - uncond) is about 0.9.
        assert_same_result(noise_for(pipe, conditioning, 1.0), noise_for(
            pipe, conditioning, 1.0, embeds=torch.zeros_like(conditioning.image_embeds)))
    finally:
        set_ip_adapter_scale(pipe.model.unet, pipe.profile.ip_adapter_scale)


def test_save_load_round_trip(pipe, tmp_path):
    foreground, matte, condition = inputs(seed=2)
    conditioning = pipe.encode_conditioning(foreground, matte, condition)
    before = noise_for(pipe, conditioning, 3.0)
    pipe.model.save_pretrained(tmp_path / "copy")
    # Saving detaches the IP-Adapter only for the duration: the same modules are back.
    assert_same_result(noise_for(pipe, conditioning, 3.0), before)
    loaded = load_pretrained(tmp_path / "copy")
    for part, module in pipe.model.modules().items():
        other = loaded.modules()[part].state_dict()
        assert set(other) == set(module.state_dict()), part
        for name, tensor in module.state_dict().items():
            assert torch.equal(tensor, other[name]), "%s.%s" % (part, name)
    assert torch.equal(loaded.text_embeds, pipe.model.text_embeds)
    args = dict(steps=2, guidance_scale=3.0, seed=5)
    # Equal weights (above); outputs equal up to float rounding (reproducible.py).
    assert_same_result(ActAnywherePipeline(loaded)(foreground, matte, condition, **args),
                       pipe(foreground, matte, condition, **args))


@pytest.mark.parametrize("removed", [TEXT_EMBEDS_FILE, IP_ADAPTER_FILE])
def test_missing_files_are_listed(profile_dir, tmp_path, removed):
    copy = tmp_path / "copy"
    shutil.copytree(profile_dir, copy)
    (copy / removed).unlink()
    with pytest.raises(ModelError) as info:
        load_pretrained(copy)
    message = str(info.value)
    assert "missing %s" % (removed,) in message
    for name in expected_files(IP_ADAPTER):
        assert name in message


def test_unknown_directory_names_the_zeroshot_files():
    with pytest.raises(ModelError, match="unet/config.json.*ip_adapter.safetensors, text_embeds.safetensors"):
        load_profile("zeroshot-sd15-inpaint")


def test_init_refuses_missing_or_mismatched_parts(public, tmp_path):
    root, unet2d, ip_state = public
    inpaint, adapter, ip_file, encoder = init_args(root)
    with pytest.raises(ModelError, match="text_encoder/config.json.*tokenizer/vocab.json"):
        init_zeroshot_sd15_inpaint(tmp_path, adapter, ip_file, encoder, tmp_path / "out")
    with pytest.raises(ModelError, match="IP-Adapter weights missing"):
        init_zeroshot_sd15_inpaint(inpaint, adapter, tmp_path / "nothing.bin", encoder, tmp_path / "out")
    wrong = {**ip_state, "image_proj": {**ip_state["image_proj"], "proj.weight": torch.zeros(4 * CROSS, 8)}}
    torch.save(wrong, tmp_path / "wrong.bin")
    with pytest.raises(ModelError, match="belong together"):
        init_zeroshot_sd15_inpaint(inpaint, adapter, tmp_path / "wrong.bin", encoder, tmp_path / "out")


def test_low_precision_path(profile_dir):
    # bfloat16 on the CPU stands in for CUDA float16: the IP-Adapter is attached in the U-Net's dtype.
    low = ActAnywherePipeline(load_pretrained(profile_dir, dtype="bfloat16"))
    assert {p.dtype for p in low.model.unet.parameters()} == {torch.bfloat16}
    out = low(*inputs(), steps=1, guidance_scale=2.0)
    assert out.dtype == np.float32 and np.isfinite(out).all()


def test_profile_conditioning_is_validated():
    from actanywhere.engine.model.profile import ModelProfile

    with pytest.raises(ModelError, match="conditioning"):
        ModelProfile("x", conditioning="text")
    with pytest.raises(ModelError, match="ip_adapter_scale"):
        ModelProfile("x", ip_adapter_scale=-1)
