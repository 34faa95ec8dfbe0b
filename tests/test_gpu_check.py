"""benchmarks/gpu_check.py's CPU part: the GPU check's own path at tiny configs, so the script a device
session runs is known to work before it gets there. It checks that figures come out, not what they are."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))

import gpu_check  # noqa: E402


def test_the_gpu_check_runs_every_backbone_at_tiny_sizes(capsys):
    rows = gpu_check.main(["--tiny", "--device", "cpu", "--frames", "5", "--steps", "2"])
    assert [row["backbone"] for row in rows] == ["unet-sd15", "wan-vace-1.3b", "wan-vace-14b"]
    assert all(row["seconds_per_clip"] > 0 and row["frames"] == 5 for row in rows)
    assert all(isinstance(row["tiled_overhead"], float) for row in rows)
    assert rows[1]["plate"] == "160x96" and rows[1]["plate_seconds"] > 0 and "plate" not in rows[0]
    printed = capsys.readouterr().out
    assert "s/clip" in printed and "tiled +" in printed and "refine 160x96" in printed


def test_the_plate_peak_is_printed_beside_the_cpu_estimate_of_the_same_plate(tmp_path):
    """On a GPU the 1080p refinement's measured peak is shown with what wan_memory.py's CPU fits (the run
    kept in benchmarks/measured/) estimate for it: the check that validates the estimates."""
    short = gpu_check.cpu_estimate("wan-vace-1.3b", 1920, 1080, 17)
    shot = gpu_check.cpu_estimate("wan-vace-1.3b", 1920, 1080, 81)
    assert 4.5 < short < shot  # the weights, and more for more frames
    assert gpu_check.cpu_estimate("wan-vace-1.3b", 1920, 1080, 17, str(tmp_path / "absent.json")) is None
