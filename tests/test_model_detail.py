"""The detail pass (engine/model/detail.py): identity until trained, the same result in strips as whole,
part of a profile directory (saved, loaded, checksummed, missing files named), and run by both the
global pass and the tiled refinement."""
import shutil

import numpy as np
import pytest
import torch

from actanywhere.engine.errors import ModelError
from actanywhere.engine.model import profile_files
from actanywhere.engine.model.detail import DetailNet, restore_detail, strips
from actanywhere.engine.model.pipeline import ActAnywherePipeline
from actanywhere.engine.model.profile_files import build_from_configs, load_pretrained, verify_checksums
from reproducible import assert_same_result
from test_model_profile_files import _inputs  # the same small shot: frames, a square matte, a condition image


def trained_looking(net: DetailNet, seed: int = 0) -> DetailNet:
    """Random non-zero weights everywhere, the last layer included (an untrained net is the identity)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.1)
    return net.eval().requires_grad_(False)


@pytest.fixture(scope="module")
def tiny_with_detail():
    model = build_from_configs(profile_files.CONFIGS_DIR / "tiny")
    trained_looking(model.detail)
    return model


def test_an_untrained_detail_net_is_the_identity():
    frames = torch.rand(2, 3, 12, 10)
    condition, matte = torch.rand(1, 3, 12, 10), torch.rand(2, 1, 12, 10)
    # Exact by construction, whatever the threads: the untrained last layer is zeros, so the net adds 0.0.
    torch.testing.assert_close(restore_detail(DetailNet(8), frames, condition, matte), frames, rtol=0, atol=0)


@pytest.mark.parametrize("height,width", [(600, 40), (257, 31), (64, 64)])
def test_strips_give_the_whole_frame_result(height, width):
    net = trained_looking(DetailNet(8))
    images = [torch.rand(1, 3, height, width), torch.rand(1, 3, height, width), torch.rand(1, 1, height, width)]
    pad = (0, width % 2, 0, height % 2)
    whole = net(*(torch.nn.functional.pad(image, pad, mode="replicate") for image in images))
    whole = whole[:, :, :height, :width].clamp(0, 1)
    assert len(list(strips(height))) == -(-height // 256)
    assert_same_result(restore_detail(net, *images), whole)  # strips and whole differ in float rounding only


def test_the_condition_and_the_matte_must_match_the_frames():
    with pytest.raises(ModelError, match="resize the condition"):
        restore_detail(DetailNet(8), torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 6), torch.rand(1, 1, 8, 8))
    with pytest.raises(ModelError, match="resize the matte"):
        restore_detail(DetailNet(8), torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8), torch.rand(1, 1, 4, 4))


def test_a_profile_directory_keeps_the_detail_net(tiny_with_detail, tmp_path):
    saved = tmp_path / "profile"
    tiny_with_detail.save_pretrained(saved)
    assert (saved / "detail" / "config.json").is_file()
    assert "detail/model.safetensors" in (saved / profile_files.CHECKSUM_FILE).read_text()
    loaded = load_pretrained(saved)
    assert loaded.profile.detail_pass and loaded.detail is not None
    for name, tensor in tiny_with_detail.detail.state_dict().items():
        assert torch.equal(tensor, loaded.detail.state_dict()[name]), name
    args = dict(steps=1, seed=3)
    # Saved and loaded weights are equal (above), their outputs only up to float rounding (reproducible.py).
    assert_same_result(ActAnywherePipeline(loaded)(*_inputs(), **args),
                       ActAnywherePipeline(tiny_with_detail)(*_inputs(), **args))

    changed = tmp_path / "changed"
    shutil.copytree(saved, changed)
    from actanywhere.engine.model.detail import save_detail_net

    with torch.no_grad():
        loaded.detail.out.bias.add_(1.0)
    save_detail_net(loaded.detail, changed / "detail")
    with pytest.raises(ModelError, match="detail/model.safetensors"):
        verify_checksums(changed)

    (changed / "detail" / "model.safetensors").unlink()
    with pytest.raises(ModelError, match="missing detail/model.safetensors") as error:
        load_pretrained(changed)
    assert "detail/config.json" in str(error.value)  # the expected files are listed


def test_the_pipeline_applies_the_detail_pass(tiny_with_detail):
    pipeline = ActAnywherePipeline(tiny_with_detail)
    foreground, matte, condition = _inputs()
    latents = pipeline(foreground, matte, condition, steps=1, seed=0, output="latents")
    with_detail = pipeline.decode_latents(latents, condition=condition, matte=matte)
    assert_same_result(with_detail, pipeline(foreground, matte, condition, steps=1, seed=0))  # two runs
    plain = tiny_with_detail.copy()
    plain.detail = None
    without = ActAnywherePipeline(plain).decode_latents(latents)
    expected = restore_detail(tiny_with_detail.detail, torch.from_numpy(without).permute(0, 3, 1, 2),
                              pipeline.detail_condition(condition, 16, 16), torch.from_numpy(matte)[:, None])
    assert_same_result(with_detail, expected.permute(0, 2, 3, 1))
    assert np.abs(with_detail - without).max() > 1e-3
    with pytest.raises(ModelError, match="pass the condition image"):
        pipeline.decode_latents(latents, matte=matte)
    with pytest.raises(ModelError, match="pass the matte"):
        pipeline.decode_latents(latents, condition=condition, matte=matte[:2])


def test_the_refinement_applies_the_detail_pass(tiny_with_detail):
    from actanywhere.engine.model.refine import PlateRefiner, TilingPlan

    pipeline = ActAnywherePipeline(tiny_with_detail)
    foreground, matte, condition = _inputs(frames=2, size=24)
    plan = TilingPlan(tile=4, tile_overlap=2, window_frames=2, window_overlap=0, tile_batch=1, strength=0.3)
    refiner = PlateRefiner(pipeline, 2, 24, 24, plan)
    for index in range(2):
        refiner.add_input(index, foreground[index], matte[index])
        refiner.add_init(index, foreground[index])
    with pytest.raises(ModelError, match="before reading frames"):
        refiner.frame(0)
    with pytest.raises(ModelError, match="pass condition"):
        refiner.run(foreground, pipeline.encode_condition(condition), 2, 1.0, "ddim", 0)
    refiner.run(foreground, pipeline.encode_condition(condition), 2, 1.0, "ddim", 0, condition=condition)
    from actanywhere.engine.model.tiled_vae import decode_tiled

    decoded = decode_tiled(pipeline, refiner.latents.read_frame(0)[None], plan.tile, plan.tile_overlap)
    matte_at_size = torch.from_numpy(refiner.pad(matte[0]))[None, None]
    expected = restore_detail(tiny_with_detail.detail, decoded, refiner.condition_at_size(condition), matte_at_size)
    assert_same_result(refiner.frame(0), expected[0].permute(1, 2, 0))
    refiner.close()


def test_the_profile_and_the_model_must_agree_on_the_detail_pass(tiny_with_detail):
    from actanywhere.engine.model.architecture import ActAnywhereModel

    model = tiny_with_detail
    with pytest.raises(ModelError, match="detail_pass is true but the model has no detail net"):
        ActAnywhereModel(model.profile, model.unet, model.vae, model.image_encoder)
