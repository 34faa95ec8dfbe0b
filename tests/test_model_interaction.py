"""The interaction pass (model/interaction.py): identity until trained, its inputs, streaming, files, the
pipeline's use of it, and its training (engine/training/interaction_train.py)."""
import math

import numpy as np
import pytest
import torch
import yaml

from actanywhere.engine.camera.condition_warp import SpatialCondition
from actanywhere.engine.errors import ConfigError, ModelError
from actanywhere.engine.model.interaction import (
    INPUT_CHANNELS, PAST_MATTES, GainedFrames, InteractionNet, apply_gain, apply_gains, interaction_gains, net_inputs,
    work_size)
from actanywhere.engine.model.pipeline import ActAnywherePipeline
from actanywhere.engine.model.profile_files import (
    CONFIGS_DIR, build_from_configs, load_pretrained, missing_files, save_pretrained)
from reproducible import assert_same_result


def shot(frames=5, height=32, width=48, seed=0):
    rng = np.random.default_rng(seed)
    matte = np.zeros((frames, height, width), np.float32)
    for t in range(frames):
        matte[t, 8:28, 10 + 3 * t:20 + 3 * t] = 1.0
    foreground = rng.random((frames, height, width, 3), dtype=np.float32)
    condition = rng.random((height, width, 3), dtype=np.float32)
    return foreground, matte, condition


def darkening_net(log_gain=math.log(0.5), seed=0):
    """A net with random weights whose output is `log_gain` plus a small varying part."""
    torch.manual_seed(seed)
    net = InteractionNet(width=4)
    torch.nn.init.normal_(net.out.weight, std=0.01)
    torch.nn.init.constant_(net.out.bias, log_gain)
    return net.eval()


def test_an_untrained_pass_is_the_identity():
    foreground, matte, condition = shot()
    gains = interaction_gains(InteractionNet(width=4).eval(), foreground, matte, SpatialCondition(condition, 5))
    assert gains.shape == (5, 128, 192, 3)
    assert np.array_equal(gains, np.ones_like(gains))


def test_inputs_stack_the_current_and_earlier_mattes_oldest_last():
    mattes = torch.arange(4, dtype=torch.float32).view(4, 1, 1, 1).expand(4, 1, 2, 2) / 10
    other = torch.zeros(4, 3, 2, 2)
    inputs = net_inputs(mattes, other, other, torch.ones(4, 1, 2, 2))
    assert inputs.shape == (4, INPUT_CHANNELS, 2, 2)
    channels = (inputs[:, :PAST_MATTES + 1, 0, 0] + 1) / 2  # back to [0, 1]
    # frame t sees (t, t-1, t-2), clamped at the start of the shot
    expected = torch.tensor([[0, 0, 0], [1, 0, 0], [2, 1, 0], [3, 2, 1]], dtype=torch.float32) / 10
    assert_same_result(channels, expected, atol=1e-6)


def test_gains_streamed_in_batches_equal_one_batch():
    foreground, matte, condition = shot(frames=7)
    net = darkening_net()
    spatial = SpatialCondition(condition, 7)
    whole = interaction_gains(net, foreground, matte, spatial, batch=8)
    assert not np.allclose(whole, whole.mean())  # the test would pass for a constant net
    assert_same_result(interaction_gains(net, foreground, matte, spatial, batch=3), whole, atol=1e-5)


def test_work_size_keeps_the_aspect_in_multiples_of_16():
    assert work_size(128, 128) == (128, 128)
    assert work_size(432, 240) == (224, 128)
    assert work_size(64, 64) == (128, 128)
    assert work_size(20, 200) == (16, 128)


def test_a_gain_is_resized_to_the_frame_and_the_result_clamped():
    frame = np.full((10, 20, 3), 0.8, np.float32)
    gain = np.ones((5, 10, 3), np.float32)
    gain[:, :5] = 0.5
    gain[:, 5:] = 2.0
    out = apply_gain(frame, gain)
    assert out.shape == frame.shape
    assert np.allclose(out[:, 0], 0.4) and np.allclose(out[:, -1], 1.0)
    lazy = GainedFrames([frame, frame], np.stack([gain, gain]))
    assert len(lazy) == 2 and np.array_equal(lazy[1], out)
    with pytest.raises(ModelError, match="2 frames but 1 gains"):
        GainedFrames([frame, frame], gain[None])


def interaction_model():
    model = build_from_configs(CONFIGS_DIR / "tiny")
    model.interaction = darkening_net()
    model.profile.interaction_pass = True
    return model


def test_the_pipeline_darkens_its_plate_by_the_gain_and_can_leave_it_to_the_caller():
    pipe = ActAnywherePipeline(interaction_model())
    foreground, matte, condition = shot(frames=4, height=16, width=16)
    plain = pipe(foreground, matte, condition, seed=0, steps=1, interaction=False)
    drawn = pipe(foreground, matte, condition, seed=0, steps=1)
    gains = pipe.interaction_gains(foreground, matte, condition)
    assert_same_result(drawn, apply_gains(plain, gains))
    assert np.abs(drawn - plain).mean() > 0.05  # the gain of about 0.5 took effect


def test_a_profile_with_the_pass_saves_and_loads_and_names_its_missing_files(tmp_path):
    model = interaction_model()
    save_pretrained(model, tmp_path / "profile")
    loaded = load_pretrained(tmp_path / "profile")
    assert loaded.profile.interaction_pass and loaded.interaction is not None
    for (name, value), (_, original) in zip(loaded.interaction.state_dict().items(),
                                            model.interaction.state_dict().items()):
        assert torch.equal(value, original), name
    (tmp_path / "profile" / "interaction" / "model.safetensors").unlink()
    assert missing_files(tmp_path / "profile") == ["interaction/model.safetensors"]
    with pytest.raises(ModelError, match="interaction/model.safetensors"):
        load_pretrained(tmp_path / "profile")


def test_a_model_whose_profile_and_nets_disagree_is_refused():
    model = build_from_configs(CONFIGS_DIR / "tiny")
    assert model.profile.interaction_pass and model.interaction is not None  # the configs build one
    model.interaction = None
    with pytest.raises(ModelError, match="interaction_pass is true but the model has no interaction net"):
        model.check()


# -- training ----------------------------------------------------------------------------------------
def write_config(tmp_path, split, init, **extra):
    data = {"schema_version": 1, "init": str(init), "output_dir": str(tmp_path / "run"),
            "data": {"split": str(split)}, "steps": 3, "batch_size": 2, "width": 4, "threads": 1,
            "warmup_steps": 1, "log_every": 1}
    data.update(extra)
    path = tmp_path / "interaction.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.fixture(scope="module")
def trained_profile(tmp_path_factory):
    folder = tmp_path_factory.mktemp("profile")
    save_pretrained(build_from_configs(CONFIGS_DIR / "tiny"), folder / "tiny")
    return folder / "tiny"


def test_training_refuses_a_split_not_at_the_work_size(tmp_path, trained_profile):
    from actanywhere.engine.synth import generate_dataset
    from actanywhere.engine.training.interaction_train import run_interaction_training

    generate_dataset(str(tmp_path / "synth"), "train", count=1, size=(64, 64), frames=3, seed=0)
    config = write_config(tmp_path, tmp_path / "synth" / "train", trained_profile)
    with pytest.raises(ConfigError, match=r"clips of 64x64.*--size 128x128"):
        run_interaction_training(config)


@pytest.mark.slow
def test_training_adds_the_pass_to_the_profile_and_logs_its_loss(tmp_path, trained_profile):
    from actanywhere.engine.synth import generate_dataset
    from actanywhere.engine.training.interaction_train import run_interaction_training

    generate_dataset(str(tmp_path / "synth"), "train", count=2, size=(128, 128), frames=4, seed=0)
    config = write_config(tmp_path, tmp_path / "synth" / "train", trained_profile)
    result = run_interaction_training(config)
    loaded = load_pretrained(result.profile_dir)
    assert loaded.profile.interaction_pass
    # The optimizer moved the zero-initialised last layer: the pass is no longer the identity.
    assert float(loaded.interaction.out.weight.abs().sum()) > 0
    rows = (result.output_dir / "interaction_loss.csv").read_text().splitlines()
    assert rows[0].startswith("step,loss") and len(rows) == 4
    assert all(math.isfinite(float(row.split(",")[1])) for row in rows[1:])


def test_a_keep_condition_profile_keeps_the_condition_where_it_covers_the_frame():
    from actanywhere.engine.camera.condition_warp import stretch_image

    model = build_from_configs(CONFIGS_DIR / "tiny")
    model.profile.keep_condition = True
    pipe = ActAnywherePipeline(model)
    foreground, matte, condition = shot(frames=3, height=16, width=16)
    kept = pipe(foreground, matte, condition, seed=0, steps=1)
    model.profile.keep_condition = False
    generated = pipe(foreground, matte, condition, seed=0, steps=1)
    stretched = stretch_image(condition, 16, 16)
    # A locked-off camera and a background-only condition: every pixel is the condition's own.
    assert_same_result(kept, np.broadcast_to(stretched, kept.shape))
    assert np.abs(generated - stretched).mean() > 0.05  # the untrained model draws something else
