"""The wan-vace tiled refinement at plate size (backbones/wan_vace_refine.py): VACE's latent grid cut
into windows x tiles whose velocities are blended every step, the reference frame seen by every region.
A tiny random-config model runs it; a pointwise stand-in for the transformer proves the cutting and
blending exact (tiled = one region); generate refines a plate larger than the working size."""
import json

import numpy as np
import OpenImageIO as oiio
import pytest
import yaml

from actanywhere.engine.cli import main
from actanywhere.engine.model.backbones import wan_vace
from actanywhere.engine.model.backbones.wan_vace_refine import WanPlateRefiner, WanRegions
from actanywhere.engine.model.refine import TilingPlan
from shot_files import write_shot
from reproducible import one_thread

FRAMES, WIDTH, HEIGHT = 7, 96, 54


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    root = tmp_path_factory.mktemp("wan")
    source = wan_vace.save_random("wan-vace-tiny", root / "src")
    profile = wan_vace.init_profile(source, root / "profile", native_size=(32, 48, 5))
    return wan_vace.load("wan", str(profile))


def shot(seed=0):
    rng = np.random.default_rng(seed)
    foreground = rng.random((FRAMES, HEIGHT, WIDTH, 3), dtype=np.float32)
    matte = np.zeros((FRAMES, HEIGHT, WIDTH), np.float32)
    matte[:, 20:40, 30:60] = 1.0
    init = rng.random((FRAMES, HEIGHT, WIDTH, 3), dtype=np.float32)
    return foreground, matte, init, rng.random((30, 50, 3), dtype=np.float32)


def refined(pipeline, plan, predict=None, steps=2, seed=3, guidance=1.0, prompt=""):
    foreground, matte, init, condition = shot()
    refiner = WanPlateRefiner(pipeline, FRAMES, WIDTH, HEIGHT, plan)
    if predict is not None:
        refiner._predict = predict
    for index in range(FRAMES):
        refiner.add_input(index, foreground[index], matte[index])
        refiner.add_init(index, init[index])
    events = []
    refiner.run(init, pipeline.encode_condition(condition), steps, guidance, "ignored", seed, events.append,
                prompt=prompt)
    frames = np.stack(list(refiner.frames_out()))
    grid, calls = refiner.grid, refiner.transformer_calls
    refiner.close()
    return frames, grid, calls, events


def test_the_grid_is_whole_patches_of_the_latent_shot(pipeline):
    refiner = WanPlateRefiner(pipeline, FRAMES, WIDTH, HEIGHT, TilingPlan(5, 4, 4, 1, 0.5))
    # 96x54 padded to 96x64 (whole 16-pixel patches): latent 12x8; 7 frames -> 9 (4k+1) -> 3 latent frames
    assert (refiner.latent_width, refiner.latent_height, refiner.latent_frames) == (12, 8, 3)
    # in patches of 2x2 latent pixels: 6x4, tiles of 4 patches sharing 1 -> two across
    assert refiner.grid.windows == [(0, 2), (1, 3)] and refiner.grid.tile_count == 2
    regions = WanRegions(refiner.patch, "cpu", control=None, predict=None, guidance=())
    cuts = [regions.locate(region) for region in refiner.grid.regions()]
    assert [(cut.rows, cut.cols) for cut in cuts[:2]] == [(slice(0, 8), slice(0, 8)), (slice(0, 8), slice(4, 12))]
    assert [list(cut.frames) for cut in cuts[::2]] == [[0, 1, 2], [0, 2, 3]]  # the reference first
    assert cuts[0].weight.shape == (1, 1, 3, 8, 8)
    refiner.close()


def test_tiles_and_windows_blend_to_exactly_the_one_region_result(pipeline):
    """With a prediction that depends on each latent alone, blending windows x tiles must give what one
    region over everything gives: any slip in the crops, the reference frame or the weights shows."""
    seen = []

    def pointwise(sample, control, timestep, embeds, negative, guidance, scale):
        seen.append(tuple(sample.shape[2:]))
        return 0.3 * sample - 0.2 * control[:, :sample.shape[1]].float() + 0.01 * float(timestep) / 1000

    with one_thread():
        whole, one, _, _ = refined(pipeline, TilingPlan(9, 4, 52, 13, 0.5), pointwise)
        tiled, grid, _, events = refined(pipeline, TilingPlan(5, 4, 4, 1, 0.5), pointwise)
    assert one.window_count * one.tile_count == 1 and grid.window_count * grid.tile_count == 4
    assert seen[0] == (4, 8, 12) and seen[-1] == (3, 8, 8)  # (the reference frame + a window) x a tile
    np.testing.assert_allclose(tiled, whole, atol=2e-5)
    refine = [event for event in events if event.stage == "refine"]
    assert [event.done for event in refine] == list(range(1, len(refine) + 1)) and refine[-1].tiles == 2


def test_the_real_transformer_refines_and_the_seed_decides(pipeline):
    plan = TilingPlan(5, 4, 4, 1, 0.5)
    first, _, calls, _ = refined(pipeline, plan, steps=2)
    assert first.shape == (FRAMES, HEIGHT, WIDTH, 3) and np.isfinite(first).all() and first.std() > 0
    assert calls == 1 * 4  # one of the two steps at strength 0.5, four regions, no guidance
    again, _, _, _ = refined(pipeline, plan, steps=2)
    np.testing.assert_allclose(again, first, atol=1e-4)
    other, _, _, _ = refined(pipeline, plan, steps=2, seed=4)
    assert np.abs(other - first).max() > 1e-3
    guided, _, calls, _ = refined(pipeline, plan, steps=2, guidance=5.0, prompt="a beach at dusk")
    assert calls == 2 * 4 and np.abs(guided - first).max() > 1e-3  # the negative prompt's pass too


def plate_matte(index):
    matte = np.zeros((72, 128), np.float32)
    matte[20:60, 40 + 4 * index:70 + 4 * index] = 1.0
    return matte


@pytest.mark.slow
def test_generate_refines_a_plate_larger_than_the_working_size(tmp_path):
    source = wan_vace.save_random("wan-vace-tiny", tmp_path / "src")
    profile = wan_vace.init_profile(source, tmp_path / "profile", native_size=(16, 32, 5))
    (tmp_path / "shot").mkdir()
    shot_dir = write_shot(tmp_path / "shot", range(1001, 1006), 128, 72, plate_matte, condition="cond.exr")
    spec = {"shot": "sh010", "plate": str(shot_dir / "plate" / "p.####.exr"), "matte": str(shot_dir / "roto" / "m.####.exr"),
            "condition": str(shot_dir / "cond.exr"), "frames": "1001-1005", "model": "wan",
            "sampler": {"steps": 2}, "tiling": {"tile_size": 64},  # tiles of 4 patches (64 pixels)
            "colour": {"plate_colourspace": "ACEScg"},
            "output": {"template": str(shot_dir / "out" / "{version}" / "{shot}_{pass}_{version}.####.exr")}}
    (tmp_path / "shot.yaml").write_text(yaml.safe_dump(spec))
    studio = {"models": {"profiles": {"wan": {"kind": "wan-vace", "path": str(profile)}}}}
    (tmp_path / "studio.yaml").write_text(yaml.safe_dump(studio))
    assert main(["generate", str(tmp_path / "shot.yaml"), "--config", str(tmp_path / "studio.yaml"), "--quiet"]) == 0
    header = oiio.ImageInput.open(str(shot_dir / "out" / "v001" / "sh010_bg_v001.1003.exr")).spec()
    tiling = json.loads(header.get_string_attribute("actanywhere/tiling"))
    assert header.get_string_attribute("actanywhere/working_size") == "32x16"
    # 128x72 padded to 128x80: 8x5 patches in tiles of 4 sharing 1 -> 3 x 2 tiles, one window of 2 latent frames
    assert tiling["refine_size"] == "128x72" and tiling["latent_size"] == "16x10"
    assert (tiling["tiles"], tiling["windows"]) == (6, 1)
    assert (header.width, header.height) == (128, 72)


def test_the_control_latents_are_the_pipelines_made_a_frame_at_a_time(pipeline):
    """The refiner builds VACE's control latents and mask frame by frame (to stay within a plate's
    memory); they must be what WanVACEPipeline.prepare_video_latents and prepare_masks make of the
    whole video, mask and reference at once."""
    import torch

    foreground, matte, init, condition = shot()
    refiner = WanPlateRefiner(pipeline, FRAMES, WIDTH, HEIGHT, TilingPlan(5, 4, 4, 1, 0.5))
    for index in range(FRAMES):
        refiner.add_input(index, foreground[index], matte[index])
        refiner.add_init(index, init[index])
    reference = pipeline.encode_condition(condition)
    pipe = pipeline.pipe
    order = [min(index, FRAMES - 1) for index in range(refiner.video_frames)]  # 7 frames -> 9, the last repeated
    alpha = torch.from_numpy(np.array(refiner.matte)[order])[None, None]
    fg = torch.from_numpy(np.array(refiner.foreground)[order]).permute(3, 0, 1, 2)[None]
    context = torch.from_numpy(np.array(refiner.init)[order]).permute(3, 0, 1, 2)[None]
    video, mask = (fg * alpha + context * (1 - alpha)) * 2 - 1, 1 - alpha
    canvas = [[refiner._reference_canvas(reference)]]
    with one_thread(), torch.inference_mode():
        control, clean = refiner._encode(reference)
        pipe.vae.enable_tiling()
        expected = torch.cat([pipe.prepare_video_latents(video, mask, canvas, None, "cpu"),
                              pipe.prepare_masks(mask, canvas, None)], dim=1)
        pipe.vae.disable_tiling()
    refiner.close()
    channels = pipe.vae.config.z_dim
    assert control.shape == expected.shape == (1, channels * 2 + 64, 1 + 3, 8, 12)
    np.testing.assert_allclose(control.float().numpy(), expected.float().numpy(), atol=1e-5)
    np.testing.assert_allclose(clean[:, :, :1].numpy(), expected[:, :channels, :1].float().numpy(), atol=1e-6)


def test_the_vae_tiles_blend_to_the_one_tile_result(pipeline, monkeypatch):
    """The refiner puts the plate through the VAE in tiles blended over what they share; with an encoder
    and a decoder that map each latent pixel's own pixels alone (so that any slip in the crops, the
    ramps or the shared parts shows), tiles must give what one tile over the whole plate gives."""
    from types import SimpleNamespace

    import torch

    from actanywhere.engine.model.backbones import wan_vace_refine

    vae = pipeline.pipe.vae
    channels = vae.config.z_dim

    def pointwise_encode(video, return_dict=True):  # each 8x8 pixels' mean, the frames after the first in 4s
        pooled = torch.nn.functional.avg_pool3d(video[:, :, 1:].float(), (4, 8, 8)) if video.shape[2] > 1 else None
        first = torch.nn.functional.avg_pool3d(video[:, :, :1].float(), (1, 8, 8))
        latents = first if pooled is None else torch.cat([first, pooled], dim=2)
        latents = torch.tanh(latents.repeat(1, -(-channels // 3), 1, 1, 1)[:, :channels])
        return SimpleNamespace(latent_dist=SimpleNamespace(mode=lambda: latents))

    def pointwise_decode(latents, return_dict=True):
        frames = torch.cat([latents[:, :3, :1], latents[:, :3, 1:].repeat_interleave(4, dim=2)], dim=2)
        return (torch.tanh(frames).repeat_interleave(8, dim=3).repeat_interleave(8, dim=4),)

    monkeypatch.setattr(vae, "encode", pointwise_encode)
    monkeypatch.setattr(vae, "decode", pointwise_decode)
    foreground, matte, init, condition = shot()
    reference = pipeline.encode_condition(condition)

    def through_the_vae():
        refiner = WanPlateRefiner(pipeline, FRAMES, WIDTH, HEIGHT, TilingPlan(5, 4, 4, 1, 0.5))
        for index in range(FRAMES):
            refiner.add_input(index, foreground[index], matte[index])
            refiner.add_init(index, init[index])
        control, clean = refiner._encode(reference)
        refiner._decode(clean[:, :, 1:])
        frames = np.stack([refiner.frame(index) for index in range(FRAMES)])
        refiner.close()
        return control.float().numpy(), clean.numpy(), frames

    whole = through_the_vae()
    monkeypatch.setattr(wan_vace_refine, "VAE_TILE", 4)
    monkeypatch.setattr(wan_vace_refine, "VAE_TILE_OVERLAP", 2)
    assert len(list(wan_vace_refine.vae_tiles(8, 12))) == 3 * 5  # the 96x64 plate is 12x8 latent pixels
    tiled = through_the_vae()
    assert whole[2].std() > 0.01  # not a flat picture
    for tiled_part, whole_part in zip(tiled, whole):
        np.testing.assert_allclose(tiled_part, whole_part, atol=1e-5)
