"""`actanywhere eval` end to end on two tiny clips x two seeds with the untrained tiny model."""
import csv
import json

import pytest


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_eval_runs_end_to_end(tmp_path):
    from actanywhere.engine.evaluation.clip_metrics import random_clip_encoder
    from actanywhere.engine.evaluation.harness import run_eval

    events, lines = [], []
    out = tmp_path / "eval"
    path = run_eval(str(out), clips=2, seeds=(0, 1), steps=1, size=(32, 32), frames=6,
                    clip_encoder=random_clip_encoder(), progress=events.append, log=lines.append)
    text = open(path, encoding="utf-8").read()
    from actanywhere.engine.model.profile_files import WEIGHTS_DIR

    trained = (WEIGHTS_DIR / "tiny" / "actanywhere.json").is_file()
    assert ("UNTRAINED" in text) is not trained  # the report says whether the model was trained
    assert "CLIP metrics not computed" in text and "FVD not computed" in text
    assert "| ActAnywhere (comp) |" in text and "| paste baseline |" in text and "| condition image alone |" in text
    assert "## Goal checks" in text and "## Where the model loses" in text
    assert [event.done for event in events] == [1, 2, 3, 4] and events[-1].total == 4
    with open(out / "metrics.csv", newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    methods = {"model", "model_static", "model_raw", "tracked_paste", "paste", "condition"}
    interaction = trained and json.loads((WEIGHTS_DIR / "tiny" / "actanywhere.json").read_text()).get("interaction_pass")
    if interaction:  # the ablation of the interaction pass; a plain split's plate is its truth: no hint
        methods.add("model_no_interaction")
        assert "shadow hint not used" in text
    assert len(rows) == 2 * 2 * len(methods)  # clips x seeds x methods
    assert {row["method"] for row in rows} == methods
    for row in rows:  # the blur-proof metrics are scored for every method
        assert row["sharpness"] != "" and row["camera_follow_px"] != ""
    assert "clip_cond" not in rows[0]  # a random encoder's numbers are never written
    for row in rows:
        if row["method"] in ("model", "model_static", "tracked_paste", "paste"):
            assert float(row["fg_max_error"]) == 0.0  # the comp keeps the subject exactly
    results = json.loads((out / "results.json").read_text())
    assert results["meta"]["seeds"] == [0, 1] and len(results["checks"]) == 7
    assert (out / "eval_band_mae.png").is_file() and (out / "sheets" / "eval_sheet_clip_000000.png").is_file()
    # the generated split is a cache: a second run reuses it
    lines.clear()
    run_eval(str(out), clips=1, seeds=(0,), steps=1, size=(32, 32), frames=6, log=lines.append)
    assert not any(line.startswith("generated") for line in lines)


def test_eval_reads_the_plates_shadow_on_a_new_scene_split_and_ablates_the_interaction_pass(tmp_path):
    import math

    import numpy as np
    import torch

    from actanywhere.engine.evaluation.harness import run_eval
    from actanywhere.engine.model.interaction import InteractionNet
    from actanywhere.engine.model.pipeline import ActAnywherePipeline
    from actanywhere.engine.model.profile_files import CONFIGS_DIR, build_from_configs
    from actanywhere.engine.synth import generate_dataset

    generate_dataset(str(tmp_path / "data"), "test", count=1, size=(32, 32), frames=6, seed=0, new_scene=True)
    model = build_from_configs(CONFIGS_DIR / "tiny")
    torch.manual_seed(0)
    model.interaction = InteractionNet(width=4).eval()
    torch.nn.init.normal_(model.interaction.out.weight, std=0.05)
    torch.nn.init.constant_(model.interaction.out.bias, math.log(0.8))
    model.profile.interaction_pass = True
    path = run_eval(str(tmp_path / "eval"), split_dir=str(tmp_path / "data" / "test"), clips=1, seeds=(0,),
                    steps=1, pipeline=ActAnywherePipeline(model), sheets=0, log=lambda line: None)
    assert "shadow hint: read off each clip's plate" in open(path, encoding="utf-8").read()
    with open(tmp_path / "eval" / "metrics.csv", newline="", encoding="utf-8") as stream:
        rows = {row["method"]: row for row in csv.DictReader(stream)}
    assert "model_no_interaction" in rows and "model_no_hint" in rows
    # the pass (a gain of about 0.8) moved the plate away from its ablation
    assert abs(float(rows["model"]["psnr_rest"]) - float(rows["model_no_interaction"]["psnr_rest"])) > 0.5
    assert np.isfinite(float(rows["tracked_paste"]["camera_follow_px"]))  # tracked on the plate


def test_eval_refuses_bad_arguments(tmp_path):
    from actanywhere.engine.errors import ConfigError
    from actanywhere.engine.evaluation.harness import parse_seeds, run_eval

    with pytest.raises(ConfigError):
        run_eval(str(tmp_path), condition="sky")
    with pytest.raises(ConfigError):
        run_eval(str(tmp_path), seeds=(0, 0))
    with pytest.raises(ConfigError):
        run_eval(str(tmp_path), split_dir=str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError):
        parse_seeds("0,one")
    assert parse_seeds("0, 1,2") == [0, 1, 2]


def test_the_shipped_tiny_model_follows_the_condition_and_holds_still(tmp_path):
    """A guard against shipping broken weights: on two held-out clips at the model's own size and
    defaults, the shipped model stays within 3 dB of the paste baseline outside the subject and band
    (measured: 0.7 dB behind over 8 clips; the untrained model is 10 dB behind) and its flicker error
    is below the paste baseline's (docs/evaluation.md)."""
    from actanywhere.engine.model.profile_files import WEIGHTS_DIR

    if not (WEIGHTS_DIR / "tiny" / "actanywhere.json").is_file():
        pytest.skip("no trained tiny weights in this checkout")
    from actanywhere.engine.evaluation.harness import run_eval

    run_eval(str(tmp_path), clips=2, seeds=(0,), sheets=0, log=lambda line: None)
    summary = json.loads((tmp_path / "results.json").read_text())["summary"]
    model, paste = summary["model"], summary["paste"]
    assert model["psnr_rest"][0] > paste["psnr_rest"][0] - 3.0
    assert model["flicker_error"][0] < paste["flicker_error"][0]
