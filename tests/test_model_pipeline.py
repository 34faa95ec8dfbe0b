"""ActAnywherePipeline on the tiny profile: shapes, determinism, schedulers, guidance, windows, progress."""
import dataclasses

import numpy as np
import pytest
import torch

from actanywhere.engine.errors import ModelError
from actanywhere.engine.model.architecture import ActAnywhereModel
from actanywhere.engine.model.pipeline import ActAnywherePipeline, frame_windows
from actanywhere.engine.model.profile import CONDITION_LATENT, FG_LATENT, MASK, NOISY
from actanywhere.engine.model.profile_files import CONFIGS_DIR, build_from_configs
from reproducible import assert_same_result, max_difference

FRAMES, SIZE = 6, 16
LATENT = 16  # the tiny VAE's latent channels


@pytest.fixture(scope="module")
def pipe():
    return ActAnywherePipeline(build_from_configs(CONFIGS_DIR / "tiny"))


@pytest.fixture(autouse=True)
def reset_counter(pipe):
    pipe.unet_calls = 0


def inputs(frames=FRAMES, size=SIZE, seed=0):
    rng = np.random.default_rng(seed)
    matte = np.zeros((frames, size, size), np.float32)
    matte[:, size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 1
    foreground = rng.random((frames, size, size, 3), dtype=np.float32)
    condition = rng.random((30, 20, 3), dtype=np.float32)
    return foreground, matte, condition


def record_unet_batches(pipe):
    batches = []
    handle = pipe.model.unet.register_forward_pre_hook(lambda module, args: batches.append(args[0].shape[0]))
    return batches, handle


def test_model_shapes(pipe):
    model = pipe.model
    assert model.vae_scale_factor == 4  # three VAE blocks, derived from the config
    assert model.latent_channels == LATENT
    # noisy + foreground + condition latents and the mask
    assert model.unet.config.in_channels == 3 * LATENT + 1
    frames, h, w = 5, 8, 8
    with torch.no_grad():
        out = model.unet(torch.randn(2, 3 * LATENT + 1, frames, h, w), 10,
                         encoder_hidden_states=torch.randn(2 * frames, 1, 32)).sample
        embeds = model.image_encoder(pixel_values=torch.randn(1, 3, 32, 32)).image_embeds
    assert out.shape == (2, LATENT, frames, h, w)
    assert embeds.shape == (1, model.unet.config.cross_attention_dim)


def test_output_shape_range_and_conditioning_shapes(pipe):
    foreground, matte, condition = inputs()
    conditioning = pipe.encode_conditioning(foreground, matte, condition)
    assert conditioning.fg_latents.shape == (1, LATENT, FRAMES, SIZE // 4, SIZE // 4)
    assert conditioning.condition_latents.shape == (1, LATENT, 1, SIZE // 4, SIZE // 4)
    assert conditioning.mask.shape == (1, 1, FRAMES, SIZE // 4, SIZE // 4)
    assert conditioning.image_embeds.shape == (1, 1, 32)
    assert not conditioning.uncond_embeds.any()  # the profile's zero image embedding
    # area downsampling, background = 1: the matte's centre square is subject
    mask = conditioning.mask[0, 0, 0]
    assert mask[0, 0] == 1 and mask[1, 1] == 0
    out = pipe(foreground, matte, condition, steps=2, guidance_scale=2.0, seed=0)
    assert out.shape == (FRAMES, SIZE, SIZE, 3) and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1


def test_same_seed_same_output_other_seed_differs(pipe):
    a = pipe(*inputs(), steps=2, guidance_scale=2.0, seed=7)
    b = pipe(*inputs(), steps=2, guidance_scale=2.0, seed=7)
    c = pipe(*inputs(), steps=2, guidance_scale=2.0, seed=8)
    assert_same_result(a, b)  # same seed: equal up to float rounding (reproducible.py)
    assert max_difference(a, c) > 1e-2


@pytest.mark.parametrize("scheduler", ["ddim", "dpmsolver++"])
def test_both_schedulers_run(pipe, scheduler):
    events = []
    out = pipe(*inputs(), steps=3, guidance_scale=2.0, scheduler=scheduler, seed=0, progress=events.append)
    assert np.isfinite(out).all()
    assert [e.step for e in events if e.stage == "sample"] == [1, 2, 3]


def test_unknown_scheduler_is_refused(pipe):
    with pytest.raises(ModelError, match="dpmsolver"):
        pipe(*inputs(), steps=1, scheduler="euler")


def test_guidance_scale_one_skips_the_unconditional_pass(pipe):
    batches, handle = record_unet_batches(pipe)
    try:
        pipe(*inputs(), steps=3, guidance_scale=1.0, seed=0)
        assert batches == [1, 1, 1]
        batches.clear()
        pipe(*inputs(), steps=3, guidance_scale=2.5, seed=0)
        assert batches == [2, 2, 2]
    finally:
        handle.remove()


def test_guidance_combines_unconditional_and_conditional(pipe):
    conditioning = pipe.encode_conditioning(*inputs())
    latents = torch.randn(1, LATENT, FRAMES, SIZE // 4, SIZE // 4, generator=torch.Generator().manual_seed(0))
    t = torch.tensor(500)
    # The unconditional branch is what training's condition dropout shows: the zero image embedding
    # and zeros for the spatial condition.
    dropped = dataclasses.replace(conditioning, image_embeds=conditioning.uncond_embeds,
                                  condition_latents=torch.zeros_like(conditioning.condition_latents))
    with torch.no_grad():
        guided = pipe.predict_noise(latents, conditioning, t, 3.0)
        cond = pipe.predict_noise(latents, conditioning, t, 1.0)
        uncond = pipe.predict_noise(latents, dropped, t, 1.0)
    torch.testing.assert_close(guided, uncond + 3.0 * (cond - uncond), rtol=1e-4, atol=1e-5)
    assert (cond - uncond).abs().max() > 1e-6


def test_spatial_condition_enters_every_frame_and_drops_to_zeros(pipe):
    conditioning = pipe.encode_conditioning(*inputs())
    latents = torch.randn(1, LATENT, FRAMES, SIZE // 4, SIZE // 4)
    channels = pipe.model_input(latents, conditioning)
    spatial = slice(2 * LATENT + 1, 3 * LATENT + 1)  # the tiny profile's order: noisy, fg, mask, condition
    assert pipe.profile.channel_order == (NOISY, FG_LATENT, MASK, CONDITION_LATENT)
    for frame in range(FRAMES):
        torch.testing.assert_close(channels[:, spatial, frame], conditioning.condition_latents[:, :, 0])
    dropped = pipe.model_input(latents, conditioning, unconditional=True)
    assert not dropped[:, spatial].any()
    torch.testing.assert_close(dropped[:, :spatial.start], channels[:, :spatial.start])
    # The condition latent is the condition image stretched over the frames (30x20 -> 16x16 here).
    stretched = pipe.condition_pixels(inputs()[2], SIZE, SIZE)
    assert stretched.shape == (1, 3, SIZE, SIZE)
    direct = pipe.encode_condition_latents(stretched[0].permute(1, 2, 0).numpy(), SIZE, SIZE)
    torch.testing.assert_close(direct, conditioning.condition_latents)


def test_progress_events(pipe):
    events = []
    pipe(*inputs(frames=5), steps=2, guidance_scale=1.0, seed=0, progress=events.append, window_frames=2)
    stages = [e.stage for e in events]
    # The tiny configs have an interaction pass: it reports last, once per batch of frames.
    assert stages[0] == "encode" and stages[-1] == "interaction" and "sample" in stages and "decode" in stages
    decode = [e for e in events if e.stage == "decode"]
    sample = [e for e in events if e.stage == "sample"]
    assert [(e.step, e.steps, e.window, e.windows) for e in sample] == [
        (s, 2, w, 3) for s in (1, 2) for w in (1, 2, 3)]
    assert [e.done for e in sample] == list(range(1, 7)) and {e.total for e in sample} == {6}
    assert sample[-1].fraction == 1.0
    assert decode[-1].done == decode[-1].total == 5 and events[-1].done == events[-1].total == 5  # frames


def test_windows_split_long_shots(pipe):
    assert frame_windows(10, 4) == [(0, 4), (4, 8), (8, 10)]
    batches, handle = record_unet_batches(pipe)
    try:
        windowed = pipe(*inputs(), steps=2, guidance_scale=1.0, seed=0, window_frames=4)
    finally:
        handle.remove()
    assert pipe.unet_calls == 4  # 2 steps x 2 windows (6 frames: 4 + 2)
    # One window covering every frame is the plain forward.
    whole = pipe(*inputs(), steps=2, guidance_scale=1.0, seed=0, window_frames=FRAMES)
    default = pipe(*inputs(), steps=2, guidance_scale=1.0, seed=0)
    assert_same_result(whole, default)
    assert max_difference(whole, windowed) > 1e-2  # temporal attention sees other frames


def test_window_is_capped_by_motion_max_seq_length(pipe):
    assert pipe.model.max_frames_per_call == 32
    pipe(*inputs(frames=33, size=8), steps=1, guidance_scale=1.0, seed=0, window_frames=64)
    assert pipe.unet_calls == 2


def test_background_pixels_do_not_matter(pipe):
    foreground, matte, condition = inputs()
    other = foreground.copy()
    other[matte == 0] = 0.9  # change only what the matte says is background
    a = pipe(foreground, matte, condition, steps=2, guidance_scale=2.0, seed=0)
    b = pipe(other, matte, condition, steps=2, guidance_scale=2.0, seed=0)
    assert_same_result(a, b)  # a leak of the background would move pixels by about 0.1


def test_condition_image_matters(pipe):
    foreground, matte, condition = inputs()
    a = pipe(foreground, matte, condition, steps=2, guidance_scale=2.0, seed=0)
    b = pipe(foreground, matte, 1 - condition, steps=2, guidance_scale=2.0, seed=0)
    assert max_difference(a, b) > 1e-2


def test_sizes_must_be_multiples_of_the_vae_scale_factor(pipe):
    foreground, matte, condition = inputs(size=18)
    with pytest.raises(ModelError, match="multiples of the VAE scale factor 4"):
        pipe(foreground, matte, condition, steps=1)
    with pytest.raises(ModelError, match="matte"):
        pipe(inputs()[0], np.ones((FRAMES, 8, 8), np.float32), condition, steps=1)


def test_channel_order_is_a_profile_field(pipe):
    model = pipe.model
    order = (NOISY, MASK, CONDITION_LATENT, FG_LATENT)
    profile = type(model.profile)(**{**model.profile.__dict__, "channel_order": order})
    other = ActAnywherePipeline(ActAnywhereModel(profile, model.unet, model.vae, model.image_encoder,
                                                 detail=model.detail, interaction=model.interaction))
    conditioning = pipe.encode_conditioning(*inputs())
    latents = torch.zeros(1, LATENT, FRAMES, SIZE // 4, SIZE // 4)
    ours = pipe.model_input(latents, conditioning)
    moved = other.model_input(latents, conditioning)
    assert ours.shape == moved.shape == (1, 3 * LATENT + 1, FRAMES, SIZE // 4, SIZE // 4)
    torch.testing.assert_close(ours[:, 2 * LATENT:2 * LATENT + 1], conditioning.mask)
    torch.testing.assert_close(moved[:, LATENT:LATENT + 1], conditioning.mask)
    torch.testing.assert_close(moved[:, 2 * LATENT + 1:], conditioning.fg_latents)


def test_unet_channels_must_match_the_channel_order(pipe):
    model = pipe.model
    paper_only = type(model.profile)(**{**model.profile.__dict__, "channel_order": (NOISY, FG_LATENT, MASK)})
    with pytest.raises(ModelError, match=r"must take 33 channels and give 16; its config says in_channels 49"):
        ActAnywhereModel(paper_only, model.unet, model.vae, model.image_encoder, detail=model.detail,
                         interaction=model.interaction)


def test_low_precision_path_returns_float32():
    # bfloat16 on the CPU stands in for the CUDA half-precision path: casts in and out of the network.
    model = build_from_configs(CONFIGS_DIR / "tiny")
    low = ActAnywherePipeline(model, device="cpu", dtype="bfloat16")
    assert low.dtype == model.vae.dtype == model.image_encoder.dtype == torch.bfloat16
    foreground, matte, condition = inputs(frames=3)
    out = low(foreground, matte[..., None], condition, steps=2, guidance_scale=2.0, scheduler="dpmsolver++")
    assert out.dtype == np.float32 and out.shape == (3, SIZE, SIZE, 3) and np.isfinite(out).all()


def test_the_profile_may_name_its_timestep_spacing(pipe):
    """tiny samples with `trailing` spacing: one step starts from pure noise (t = 999) and is the model's
    clean-latent prediction there; SD's `leading` default would start its one step at t = 1."""
    from actanywhere.engine.model.pipeline import make_scheduler

    assert pipe.profile.noise_schedule["timestep_spacing"] == "trailing"
    for name in ("ddim", "dpmsolver++"):
        trailing = make_scheduler(name, pipe.profile.noise_schedule)
        trailing.set_timesteps(1)
        assert trailing.timesteps.tolist() == [999]
    schedule = {key: value for key, value in pipe.profile.noise_schedule.items() if key != "timestep_spacing"}
    leading = make_scheduler("ddim", schedule)
    leading.set_timesteps(1)
    assert leading.timesteps.tolist() == [1]


def test_the_backbone_seam_gives_the_tiny_profile_unchanged():
    """generate loads every profile through model/backbones by its kind; for the U-Net kinds that is
    the same pipeline with the same weights as before the seam (so the same outputs)."""
    from actanywhere.engine.model import backbones
    from actanywhere.engine.model.profile_files import load_profile, state_dict_checksum

    seam = backbones.load("tiny", "tiny", None, "cpu")
    direct = ActAnywherePipeline(load_profile("tiny"))
    assert type(seam) is ActAnywherePipeline and seam.supports_refinement
    assert state_dict_checksum(seam.model) == state_dict_checksum(direct.model)
    foreground, matte, condition = inputs()
    assert_same_result(seam(foreground, matte, condition, steps=2, seed=3),
                       direct(foreground, matte, condition, steps=2, seed=3))
    with pytest.raises(ModelError, match="unknown model kind 'sd3'"):
        backbones.load("sd3", "x", None, "cpu")
