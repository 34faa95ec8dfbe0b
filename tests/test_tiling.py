"""Tiled, windowed inference: grids and weights, exactness against the plain forward, seam-free
blending, any shot length and any plate size, per-tile conditioning, on-disk shot state."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from actanywhere.engine.errors import ModelError
from actanywhere.engine.model.blending import BlendGrid, blend_weights_2d, span_weights, spans
from actanywhere.engine.model.pipeline import ActAnywherePipeline, make_scheduler
from actanywhere.engine.model.profile import ModelProfile
from actanywhere.engine.model.refine import PlateRefiner, TilingPlan, refine_timesteps
from actanywhere.engine.model.shot_tensor import ShotTensor
from actanywhere.engine.model.tiled_sampler import TiledSampler
from actanywhere.engine.model.unet_regions import ShotConditioning, UNetRegions
from actanywhere.engine.model.tiled_vae import decode_tiled, encode_tiled
from actanywhere.engine.model.profile_files import CONFIGS_DIR, build_from_configs
from actanywhere.engine.settings import TilingSettings
from reproducible import assert_same_result


@pytest.fixture(scope="module")
def pipe():
    return ActAnywherePipeline(build_from_configs(CONFIGS_DIR / "tiny"))


def inputs(frames, height, width, seed=0):
    rng = np.random.default_rng(seed)
    matte = np.zeros((frames, height, width), np.float32)
    matte[:, height // 4: 3 * height // 4, width // 3: 2 * width // 3] = 1
    return rng.random((frames, height, width, 3), dtype=np.float32), matte, rng.random((24, 24, 3), dtype=np.float32)


class ConstantModel:
    """Stands in for a pipeline: predicts the same noise everywhere; records every call's shape."""

    def __init__(self, value=0.3, max_frames=32):
        self.value, self.shapes = value, []
        self.device = torch.device("cpu")
        self.model = SimpleNamespace(max_frames_per_call=max_frames)

    def predict_noise(self, latents, conditioning, timestep, guidance_scale, scheduler=None):
        self.shapes.append(tuple(latents.shape))
        return torch.full_like(latents, self.value)


def dummy_conditioning(frames, height, width, directory=None):
    return ShotConditioning(ShotTensor(4, frames, height, width, directory), ShotTensor(1, frames, height, width, directory),
                            torch.zeros(1, 1, 8), torch.zeros(1, 1, 8))


def random_latents(frames, height, width, seed=0, directory=None, channels=4):
    noise = torch.randn(1, channels, frames, height, width, generator=torch.Generator().manual_seed(seed))
    return ShotTensor.from_tensor(noise, directory)


# -- grids and weights ------------------------------------------------------------------------------
@pytest.mark.parametrize("balanced", [False, True])
@pytest.mark.parametrize("length,size,overlap", [(1, 16, 4), (16, 16, 4), (17, 16, 4), (50, 16, 4), (271, 64, 16),
                                                 (500, 64, 16), (7, 3, 0), (100, 64, 48), (5, 2, 1)])
def test_spans_have_one_size_reach_the_border_and_overlap(length, size, overlap, balanced):
    found = spans(length, size, overlap, balanced)
    assert found[0][0] == 0 and found[-1][1] == length
    assert len({stop - start for start, stop in found}) == 1 and found[0][1] - found[0][0] <= min(size, length)
    if not balanced:
        assert found[0][1] - found[0][0] == min(size, length)
    else:
        assert len(found) == len(spans(length, size, overlap))
    for (start, stop), (next_start, _) in zip(found, found[1:]):
        assert next_start > start and stop - next_start >= min(overlap, size - 1)


@pytest.mark.parametrize("shape", [(1, 7, 9), (17, 30, 45), (50, 272, 500), (3, 1085 // 8 + 1, 1999 // 8 + 1)])
def test_weights_cover_every_latent_pixel_and_frame(shape):
    grid = BlendGrid(*shape, window_frames=16, window_overlap=4, tile_size=32, tile_overlap=8)
    coverage = grid.coverage()
    assert coverage.shape == shape and coverage.dtype == np.float32
    assert coverage.min() > 0.05  # every latent pixel of every frame has weight
    assert grid.window_shape[0] <= 16 and grid.window_shape[1] <= 32 and grid.window_shape[2] <= 32


def test_neighbouring_ramps_sum_to_one_and_a_lone_span_weighs_one():
    weights = span_weights([(0, 16), (12, 28)])
    np.testing.assert_allclose(weights[0][12:] + weights[1][:4], 1.0, rtol=0, atol=1e-6)
    assert (weights[0][:12] == 1).all() and (weights[1][4:] == 1).all()
    assert (span_weights([(0, 9)])[0] == 1).all()
    assert all((w > 0).all() for w in span_weights(spans(50, 16, 4)))


# -- exactness --------------------------------------------------------------------------------------
def plain_forward(pipe, conditioning, latents, scheduler, guidance):
    for timestep in scheduler.timesteps:
        noise = pipe.predict_noise(latents, conditioning, timestep, guidance, scheduler)
        latents = scheduler.step(noise, timestep, latents).prev_sample
    return latents


@pytest.mark.parametrize("scheduler_name", ["ddim", "dpmsolver++"])
def test_one_window_and_one_tile_reproduce_the_plain_forward(pipe, scheduler_name):
    foreground, matte, condition = inputs(4, 24, 32)
    conditioning = pipe.encode_conditioning(foreground, matte, condition)
    scheduler = make_scheduler(scheduler_name, pipe.profile.noise_schedule)
    scheduler.set_timesteps(3)
    start = pipe.prepare_latents((1, pipe.model.latent_channels, 4, 6, 8), 5, scheduler)
    with torch.inference_mode():
        expected = plain_forward(pipe, conditioning, start.clone(), scheduler, 2.5)
    scheduler = make_scheduler(scheduler_name, pipe.profile.noise_schedule)
    scheduler.set_timesteps(3)
    latents = ShotTensor.from_tensor(start)
    grid = BlendGrid(4, 6, 8, window_frames=16, window_overlap=4, tile_size=64, tile_overlap=16)
    assert grid.window_count == grid.tile_count == 1
    regions = UNetRegions(pipe, ShotConditioning.from_conditioning(conditioning), 2.5, grid)
    TiledSampler(grid).denoise(latents, regions, scheduler, scheduler.timesteps)
    assert_same_result(latents.read(), expected)  # the same computation, up to float rounding (reproducible.py)


def test_pipeline_call_is_the_one_tile_path(pipe):
    # __call__ delegates to the tiled sampler; one window over the shot is the plain forward above.
    foreground, matte, condition = inputs(4, 16, 16)
    conditioning = pipe.encode_conditioning(foreground, matte, condition)
    scheduler = make_scheduler("ddim", pipe.profile.noise_schedule)
    scheduler.set_timesteps(2)
    with torch.inference_mode():
        latents = plain_forward(pipe, conditioning, pipe.prepare_latents((1, pipe.model.latent_channels, 4, 4, 4), 3,
                                                                           scheduler), scheduler, 2.0)
    expected = pipe.decode_latents(latents, condition=condition, matte=matte)
    assert_same_result(pipe(foreground, matte, condition, steps=2, guidance_scale=2.0, seed=3), expected)


# -- blending is seam-free ----------------------------------------------------------------------------
@pytest.mark.parametrize("frames", [1, 17, 50])
def test_constant_prediction_gives_a_seam_free_result_for_any_shot_length(frames):
    height, width = 37, 53  # odd latent sizes: shifted last tiles
    results = []
    for window, tile in ((64, 128), (16, 16)):
        model = ConstantModel()
        scheduler = make_scheduler("ddim", {"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012,
                                            "beta_schedule": "linear", "prediction_type": "epsilon"})
        scheduler.set_timesteps(3)
        latents = random_latents(frames, height, width)
        grid = BlendGrid(frames, height, width, min(window, 32), 4, tile, 4)
        regions = UNetRegions(model, dummy_conditioning(frames, height, width), 1.0, grid)
        TiledSampler(grid, tile_batch=3).denoise(latents, regions, scheduler, scheduler.timesteps)
        assert all(shape[2] <= 32 for shape in model.shapes)  # never more frames than the motion modules allow
        results.append(latents.read())
    # The blended prediction is the constant everywhere: tiling changes nothing, so no seam anywhere.
    torch.testing.assert_close(results[1], results[0], rtol=0, atol=1e-5)


def test_windows_of_real_model_cover_17_frames_with_blending(pipe):
    events = []
    out = pipe(*inputs(17, 8, 8), steps=1, guidance_scale=1.0, seed=0, window_frames=16, window_overlap=4,
               progress=events.append)
    assert out.shape == (17, 8, 8, 3) and np.isfinite(out).all()
    sample = [e for e in events if e.stage == "sample"]
    assert [(e.window, e.windows, e.tile, e.tiles) for e in sample] == [(1, 2, 1, 1), (2, 2, 1, 1)]
    assert sample[-1].eta_s == 0.0


@pytest.mark.parametrize("scheduler_name", ["ddim", "dpmsolver++"])
def test_on_disk_shot_state_gives_the_same_result(tmp_path, pipe, scheduler_name):
    frames, height, width = 3, 6, 10
    foreground, matte, condition = inputs(frames, height * 4, width * 4)
    conditioning = pipe.encode_conditioning(foreground, matte, condition)
    results = []
    for directory in (None, str(tmp_path)):  # on disk the scheduler steps frame by frame
        scheduler = make_scheduler(scheduler_name, pipe.profile.noise_schedule)
        scheduler.set_timesteps(2)  # DPM-Solver++'s second step uses its history
        latents = random_latents(frames, height, width, directory=directory, channels=pipe.model.latent_channels)
        grid = BlendGrid(frames, height, width, 2, 1, 6, 2)  # 2 windows x 2 tiles
        regions = UNetRegions(pipe, ShotConditioning.from_conditioning(conditioning, directory), 1.0, grid)
        TiledSampler(grid, tile_batch=2, scratch_dir=directory).denoise(latents, regions, scheduler, scheduler.timesteps)
        results.append(latents.read())
        assert latents.on_disk == (directory is not None)
    assert_same_result(results[0], results[1])  # batching changes float order only


# -- tiled VAE ---------------------------------------------------------------------------------------
def test_tiled_vae_one_tile_is_the_plain_vae_and_many_tiles_blend(pipe):
    pixels = torch.rand(1, 3, 40, 56) * 2 - 1
    with torch.inference_mode():
        plain = pipe.model.vae.encode(pixels).latent_dist.mode() * pipe.profile.vae_scaling_factor
    assert_same_result(encode_tiled(pipe, pixels, 64, 16), plain)  # many tiles move latents by about 0.1
    tiled = encode_tiled(pipe, pixels, 6, 2)
    assert tiled.shape == plain.shape and torch.isfinite(tiled).all()
    decoded = decode_tiled(pipe, tiled, 6, 2)
    assert decoded.shape == (1, 3, 40, 56) and decoded.min() >= 0 and decoded.max() <= 1


# -- the refinement -----------------------------------------------------------------------------------
def test_tiling_plan_uses_the_profile_default_tile(pipe):
    plan = TilingPlan.from_settings(TilingSettings(), pipe)
    assert plan.tile == 256 // 4 and plan.tile_overlap == 16 and plan.window_frames == 16
    plan = TilingPlan.from_settings(TilingSettings(tile_size=128, tile_overlap=0.5, window_frames=8, window_overlap=2), pipe)
    assert (plan.tile, plan.tile_overlap, plan.window_frames, plan.window_overlap) == (32, 16, 8, 2)


def test_refine_strength_keeps_the_last_timesteps():
    scheduler = make_scheduler("ddim", {"num_train_timesteps": 1000})
    timesteps, start = refine_timesteps(scheduler, 10, 0.4)
    assert start == 6 and len(timesteps) == 4 and list(timesteps) == list(scheduler.timesteps[6:])
    # One global step (tiny) still refines once, at about the strength: a 3-step trailing schedule's last.
    trailing = make_scheduler("ddim", {"num_train_timesteps": 1000, "timestep_spacing": "trailing"})
    timesteps, start = refine_timesteps(trailing, 1, 0.4)
    assert (start, [int(t) for t in timesteps]) == (2, [332])
    assert len(refine_timesteps(trailing, 1, 0.0)[0]) == 0  # strength 0: no refinement


def test_each_tile_is_conditioned_on_its_own_part_of_the_scene(pipe):
    plan = TilingPlan(window_frames=16, window_overlap=4, tile=8, tile_overlap=0, strength=0.5)
    refiner = PlateRefiner(pipe, 3, 64, 32, plan)  # latent 16x8: two tiles side by side
    assert refiner.grid.tile_count == 2
    global_frames = np.zeros((3, 16, 32, 3), np.float32)
    global_frames[:, :, :16] = (1.0, 0.2, 0.1)  # left half red, right half blue
    global_frames[:, :, 16:] = (0.1, 0.2, 1.0)
    embeds = refiner.tile_embeds(global_frames)
    assert set(embeds) == {(0, 0), (0, 1)}
    left_box = refiner.tile_crop_box(slice(0, 8), slice(0, 8), 16, 32)
    assert left_box[2] == 0 and 16 <= left_box[3] < 24  # the tile plus a quarter tile of context
    top, bottom, left, right = left_box
    expected = pipe.encode_condition(global_frames[1, top:bottom, left:right])[0]
    assert_same_result(embeds[(0, 0)], expected)
    assert (embeds[(0, 0)] - embeds[(0, 1)]).abs().max() > 1e-3  # not the same condition everywhere


@pytest.mark.parametrize("width,height", [(61, 35), (64, 32)])
def test_refiner_runs_on_any_size_and_streams_frames(pipe, width, height, tmp_path):
    plan = TilingPlan(window_frames=2, window_overlap=1, tile=8, tile_overlap=2, strength=0.5, tile_batch=2)
    frames = 3
    refiner = PlateRefiner(pipe, frames, width, height, plan, str(tmp_path))
    assert (refiner.latent_width, refiner.latent_height) == (-(-width // 4), -(-height // 4))
    foreground, matte, condition = inputs(frames, height, width)
    for index in range(frames):
        refiner.add_input(index, foreground[index], matte[index])
        refiner.add_init(index, foreground[index])
    events = []
    global_frames = foreground[:, ::2, ::2]
    refiner.run(global_frames, pipe.encode_condition(condition), 4, 2.0, "ddim", 0, events.append, condition=condition)
    refine_events = [e for e in events if e.stage == "refine"]
    assert refine_events[-1].done == refine_events[-1].total == 2 * refiner.grid.window_count * refiner.grid.tile_count
    assert {e.tiles for e in refine_events} == {refiner.grid.tile_count} and refiner.grid.tile_count > 1
    out = refiner.frames_out()
    frame = out[0]
    assert len(out) == frames and frame.shape == (height, width, 3) and np.isfinite(frame).all()
    refiner.close()
    assert list(tmp_path.iterdir()) == []


def test_odd_plate_sizes_such_as_1999x1085_are_planned_and_padded():
    model = SimpleNamespace(max_frames_per_call=32, latent_channels=4, detail=None)
    stub = SimpleNamespace(vae_scale_factor=8, model=model, profile=ModelProfile(name="stub", default_tile_size=512))
    plan = TilingPlan.from_settings(TilingSettings(), stub)
    refiner = PlateRefiner(stub, 2, 1999, 1085, plan)
    assert (refiner.latent_width, refiner.latent_height) == (250, 136) and refiner.padded == (1088, 2000)
    padded = refiner.pad(np.ones((1085, 1999), np.float32))
    assert padded.shape == (1088, 2000) and (padded == 1).all()
    coverage = refiner.grid.coverage()
    assert coverage.shape == (2, 136, 250) and coverage.min() > 0.05
    frames, rows, cols = refiner.grid.window_shape
    assert frames == 2 and 48 <= rows <= 64 and 48 <= cols <= 64  # balanced: 3 x 5 tiles of one shape
    assert refiner.grid.tile_count == 15 and refiner.grid.overlap_factor < 1.6
    tiles = list(blend_weights_2d(136, 250, 64, 16, scale=8))
    assert len({weight.shape for _, _, weight in tiles}) == 1 and tiles[0][2].shape == (rows * 8, cols * 8)


# -- the seam score ----------------------------------------------------------------------------------
def test_seam_score_is_one_without_seams_and_rises_with_a_step_at_a_border():
    from actanywhere.engine.evaluation.seams import border_lines, seam_score

    rows, cols, windows = spans(16, 8, 2, True), spans(24, 8, 2, True), spans(12, 4, 1)
    assert border_lines(cols, 96, 4) == sorted(set(border_lines(cols, 96, 4)))
    frames = np.random.default_rng(0).random((12, 64, 96, 3)).astype(np.float32)
    clean = seam_score(frames, rows, cols, windows, scale=4)
    assert all(0.9 < clean[key] < 1.1 for key in ("rows", "cols", "frames"))
    seamed = frames.copy()
    seamed[:, :, cols[1][0] * 4:] += 0.5  # a step where the second tile column begins
    seamed[windows[1][0]:] += 0.5  # and where the second window begins
    score = seam_score(seamed, rows, cols, windows, scale=4)
    assert score["cols"] > 1.1 and score["frames"] > 1.1 and score["score"] == max(score["cols"], score["frames"])


def test_refinement_sees_the_condition_image_at_plate_size(pipe):
    """A profile with a spatial condition refines each tile beside the condition's latent at plate size:
    the same latent the global pass computes at its own size (one VAE tile here), cropped per tile."""
    refiner = PlateRefiner(pipe, 2, 40, 24, TilingPlan(16, 4, 64, 16, 1.0))
    condition = np.random.default_rng(1).random((12, 20, 3), dtype=np.float32)
    latents = refiner.condition_latents(condition)
    assert latents.shape == (1, pipe.model.latent_channels, 1, 6, 10)
    assert_same_result(latents, pipe.encode_condition_latents(condition, 24, 40))
    with pytest.raises(ModelError, match="pass condition"):
        refiner.run(np.zeros((2, 24, 40, 3), np.float32), pipe.encode_condition(condition), 2, 1.0, "ddim", 0)
    refiner.close()


def panning_track(frames, step=0.05):
    """A camera track that pans `step` of the frame width per frame to the right (normalised)."""
    from actanywhere.engine.camera.track import REFERENCE, TRACKED, CameraTrack

    homographies = [[[1, 0, step * index], [0, 1, 0], [0, 0, 1]] for index in range(frames)]
    return CameraTrack(list(range(frames)), 0, homographies, [REFERENCE] + [TRACKED] * (frames - 1))


def test_a_tracked_condition_gives_each_frame_its_own_view_in_the_global_pass_and_the_refinement(pipe, tmp_path):
    from actanywhere.engine.camera.condition_warp import SpatialCondition

    frames = 3
    foreground, matte, condition = inputs(frames, 24, 40)
    spatial = SpatialCondition(condition, frames, panning_track(frames))
    conditioning = pipe.encode_conditioning(foreground, matte, condition, spatial=spatial)
    assert conditioning.condition_latents.shape == (1, pipe.model.latent_channels, frames, 6, 10)
    # Frame 0 is the reference: its view is the stretched condition, the latent of the static path.
    static = pipe.encode_condition_latents(condition, 24, 40)
    assert_same_result(conditioning.condition_latents[:, :, :1], static)
    assert (conditioning.condition_latents[:, :, 2:] - static).abs().max() > 1e-2
    tracked = pipe(foreground, matte, condition, steps=1, seed=0, spatial=spatial)
    still = pipe(foreground, matte, condition, steps=1, seed=0)
    assert np.abs(tracked[2] - still[2]).max() > 1e-3
    # A window of two frames over three: each window crops its own frames of the per-frame latents.
    windowed = pipe(foreground, matte, condition, steps=1, seed=0, spatial=spatial, window_frames=2, window_overlap=1)
    assert windowed.shape == tracked.shape and np.isfinite(windowed).all()

    plan = TilingPlan(window_frames=2, window_overlap=1, tile=8, tile_overlap=2, strength=0.5)
    refiner = PlateRefiner(pipe, frames, 64, 32, plan, str(tmp_path))
    plate_foreground, plate_matte, _ = inputs(frames, 32, 64, seed=1)
    for index in range(frames):
        refiner.add_input(index, plate_foreground[index], plate_matte[index])
        refiner.add_init(index, np.full((32, 64, 3), 0.5, np.float32))
    refiner.run(tracked, pipe.encode_condition(condition), 1, 1.0, "ddim", 0, condition=condition, spatial=spatial)
    assert refiner.spatial_latents is not None and refiner.spatial_latents.on_disk  # per frame, on disk
    out = refiner.frames_out()
    assert all(out[index].shape == (32, 64, 3) for index in range(frames))
    refiner.close()
    assert list(tmp_path.iterdir()) == []
