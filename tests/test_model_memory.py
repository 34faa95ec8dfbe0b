"""benchmarks/wan_memory.py and unet_memory.py (on benchmarks/memory_probe.py): their CPU measurements
run (at tiny configs), and their fits and sums are right on numbers whose answer is known. What the real
runs printed is in docs/model.md."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))

import memory_probe  # noqa: E402
import unet_memory  # noqa: E402
import wan_memory  # noqa: E402


def test_the_fit_recovers_a_known_line_and_the_hint_per_vace_block():
    slope, intercept, hint = 50_000.0, 20e6, 3072.0
    rows = [{"kind": "transformer", "config": "m", "layers": 2, "vace": 1, "tokens": t, "bytes": intercept + slope * t}
            for t in (1000, 2000, 4000)]
    rows.append({"kind": "transformer", "config": "m", "layers": 2, "vace": 2, "tokens": 2000,
                 "bytes": intercept + slope * 2000 + hint * 2000})
    rows.append({"kind": "transformer", "config": "m", "layers": 4, "vace": 1, "tokens": 2000,
                 "bytes": intercept + slope * 2000})
    rows += [{"kind": "encode", "bytes": 1e9}, {"kind": "decode", "bytes": 1.3e9}]
    rows += [{"kind": "refiner", "pixel_frames": n, "encode_bytes": 5e6 + 40 * n, "decode_bytes": 2e6 + 30 * n}
             for n in (10 ** 6, 4 * 10 ** 6)]
    rows.append({"kind": "refiner", "check": True, "pixels": [9, 1088, 192], "pixel_frames": 9 * 10 ** 6,
                 "tile_pixel_frames": 3 * 10 ** 6, "encode_bytes": 1e8, "decode_bytes": 1e8})
    fits = wan_memory.fit(rows)
    assert fits["tile_checks"] == [{"pixels": [9, 1088, 192],
                                    "encode": {"measured": 1e8, "predicted": pytest.approx(5e6 + 1.2e8)},
                                    "decode": {"measured": 1e8, "predicted": pytest.approx(2e6 + 9e7)}}]
    line = fits["transformer"]["m"]
    assert line["slope"] == pytest.approx(slope) and line["intercept"] == pytest.approx(intercept, rel=1e-6)
    assert line["hint_per_token"] == pytest.approx(hint) and line["deeper_ratio"] == pytest.approx(1.0)
    assert fits["refiner_encode"]["slope"] == pytest.approx(40) and fits["refiner_decode"]["intercept"] == pytest.approx(2e6)
    assert fits["vae_encode"] == 1e9


def test_the_estimate_adds_weights_to_the_largest_phase():
    fits = {"transformer": {"wan-vace-1.3b": {"intercept": 0.0, "slope": 50_000.0, "hint_per_token": 3072.0}},
            "vae_encode": 1e9, "vae_decode": 1.3e9,
            "refiner_encode": {"intercept": 0.0, "slope": 40.0}, "refiner_decode": {"intercept": 0.0, "slope": 30.0}}
    row = wan_memory.estimate("wan-vace-1.3b", fits, 1920, 1080, 81, "wan-vace-1.3b")
    # 1088x1920 in 16-pixel patches: 68x120; 832-pixel tiles (52 patches, a quarter shared) balance to
    # 2 rows of 41 x 3 columns of 49; 81 frames are 21 latent frames in one window, with the reference 22
    assert (row["tiles"], row["windows"], row["region_tokens"]) == (6, 1, 22 * 41 * 49)
    sample = 96 * 22 * 136 * 240 * 2 + 22 * 41 * 49 * (50_000 + 14 * 3072)
    # the refiner puts the plate through the VAE in tiles: 136x240 latent pixels in tiles of 96 sharing 8
    # balance to 2 rows of 72 x 3 columns of 86 (576x688 pixels), one at a time
    encode = 40 * 81 * 576 * 688 + 1e9
    assert row["phases_gib"]["sample"] * 2 ** 30 == pytest.approx(sample)
    assert row["phases_gib"]["encode"] * 2 ** 30 == pytest.approx(encode)
    control = 96 * 22 * 136 * 240 * 2
    assert row["phases_gib"]["decode"] * 2 ** 30 == pytest.approx(control + 30 * 81 * 576 * 688 + 1.3e9)
    assert row["peak_gib"] == pytest.approx(row["weights_gib"] + max(row["phases_gib"].values()))
    assert 4.4 < row["weights_gib"] < 4.6  # 2.15B parameters in bf16 (some float32): 4.0 GiB + the VAE in float32


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="measures through Linux's /proc")
def test_the_measuring_path_runs_at_tiny_configs(capsys, tmp_path):
    summary = wan_memory.main(["--tiny", "--json", str(tmp_path / "run.json")])
    kinds = [row["kind"] for row in summary["measurements"]]
    assert kinds.count("transformer") == 5 and kinds.count("refiner") == 3  # the last one a check of the VAE tiles
    assert all(row["seconds"] >= 0 and row["config"] == "wan-vace-tiny" for row in summary["measurements"])
    assert summary["fits"]["vae_encode"] > 0 and summary["fits"]["refiner_encode"]["slope"] > 0
    assert [row["model"] for row in summary["estimates"]] == ["wan-vace-1.3b", "wan-vace-14b"]
    assert "peak" in capsys.readouterr().out
    # another plate from the same fits, measuring nothing
    again = wan_memory.main(["--tiny", "--fits", str(tmp_path / "run.json"), "--plate", "3840x2160"])
    assert again["fits"] == summary["fits"] and "measuring" not in capsys.readouterr().out
    assert [row["plate"] for row in again["estimates"]] == ["3840x2160"] * 2
    assert again["estimates"][0]["peak_gib"] > summary["estimates"][0]["peak_gib"]


def test_the_probe_counts_what_a_call_allocates_and_frees():
    import numpy as np

    held = memory_probe.peak_above_now(lambda: np.ones(64 * 2 ** 20, np.uint8).sum())  # 64 MiB, freed after
    assert 60 * 2 ** 20 < held < 80 * 2 ** 20


def test_the_unet_estimate_takes_the_largest_of_the_global_call_the_tile_and_the_vae():
    fits = {"unet": {"intercept": 1e8, "slope": 20_000.0, "residual": 0.0}, "vae_encode": 1e9, "vae_decode": 1.5e9}
    row = unet_memory.estimate("actanywhere-sd15", fits, 1920, 1080, 81)
    # 1080x1920 is 135x240 latent pixels; 512-pixel tiles (64 latent, a quarter shared) balance to 3 rows
    # of 61 x 5 columns of 56; 16-frame windows (the native length) sharing 4 frames: 7 over 81 frames
    assert (row["tiles"], row["windows"], row["region_latent_pixels"]) == (15, 7, 16 * 61 * 56)
    assert row["phases_gib"]["global"] * 2 ** 30 == pytest.approx(1e8 + 20_000 * 32 * 32 * 16)  # 256x256x16
    assert row["phases_gib"]["refine"] * 2 ** 30 == pytest.approx(1e8 + 20_000 * 16 * 61 * 56)
    assert row["peak_gib"] == pytest.approx(row["weights_gib"] + 1.5e9 / 2 ** 30)
    # U-Net + motion modules 1.31B, VAE 84M, CLIP ViT-L/14 vision 304M parameters, in float16
    assert 3.1 < row["weights_gib"] < 3.25


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="measures through Linux's /proc")
def test_the_unet_measuring_path_runs_at_the_tiny_profile(capsys):
    summary = unet_memory.main(["--tiny"])
    assert [row["kind"] for row in summary["measurements"]] == ["unet"] * 3 + ["encode", "decode"]
    assert summary["fits"]["unet"]["slope"] > 0 and summary["estimates"][0]["model"] == "tiny"
    assert "peak" in capsys.readouterr().out
