"""The console command's config, spec and model commands: output, exit codes, one-line errors."""
import subprocess
import sys

import yaml

from actanywhere.engine.cli import main


def test_config_show_prints_values_with_their_source(tmp_path, capsys, monkeypatch):
    studio = tmp_path / "studio.yaml"
    studio.write_text("sampler: {steps: 33}\n")
    monkeypatch.setenv("ACTANYWHERE_CONFIG", str(studio))
    assert main(["config", "show", "--set", "sampler.seed=4"]) == 0
    out = capsys.readouterr().out
    assert "steps: 33  # %s (ACTANYWHERE_CONFIG)" % studio in out
    assert "seed: 4  # --set sampler.seed=4" in out
    assert "scheduler: ddim  # built-in default.yaml" in out
    assert out.startswith("# layers, lowest first: built-in default.yaml, %s" % studio)


def test_config_check_accepts_a_good_file_and_names_a_bad_key(tmp_path, capsys):
    good = tmp_path / "good.yaml"
    good.write_text("sampler: {steps: 12}\n")
    assert main(["config", "check", str(good)]) == 0
    assert "good.yaml: valid" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("tiling: {tile_sise: 256}\n")
    assert main(["config", "check", str(bad)]) == 2
    error = capsys.readouterr().err.strip()
    assert error == "actanywhere: error: %s: tiling.tile_sise: unknown key; known keys here: " \
        "refine_strength, tile_batch, tile_overlap, tile_size, window_frames, window_overlap" % bad


def test_spec_check_prints_the_resolved_spec(tmp_path, capsys):
    spec = tmp_path / "sh010.yaml"
    spec.write_text(yaml.safe_dump({
        "shot": "sh010", "plate": "plate/p.%04d.exr", "matte": "roto/m.####.exr",
        "condition": "c.png", "frames": "1001-1010x3",
    }))
    assert main(["spec", "check", str(spec), "--set", "sampler.steps=9"]) == 0
    resolved = yaml.safe_load(capsys.readouterr().out)
    assert resolved["plate"] == (tmp_path / "plate" / "p.%04d.exr").as_posix()
    assert resolved["frames"] == "1001-1010x3"
    assert resolved["sampler"]["steps"] == 9  # inherited from the config layer given on the command line
    assert resolved["model"] == "tiny"


def test_spec_check_missing_file(tmp_path, capsys):
    assert main(["spec", "check", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: shot spec not found" in capsys.readouterr().err


def test_model_check_lists_the_files_expected(tmp_path, capsys):
    assert main(["model", "check", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "actanywhere.json" in error and "unet/diffusion_pytorch_model.safetensors" in error


def test_model_init_refuses_an_existing_output(tmp_path, capsys):
    code = main(["model", "init", "actanywhere-sd15", "--sd15", str(tmp_path), "--motion-adapter", str(tmp_path),
                 "--image-encoder", str(tmp_path), "--out", str(tmp_path)])
    assert code == 2
    assert "never overwritten" in capsys.readouterr().err


def test_console_script_runs_config_commands_without_torch(tmp_path):
    """`actanywhere config show` must not pay for importing torch: it is what TDs run most."""
    script = "import sys; from actanywhere.engine.cli import main; main(['config', 'show']); " \
             "print('torch' in sys.modules, 'OpenImageIO' in sys.modules)"
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert finished.stdout.strip().splitlines()[-1] == "False False"


def test_eval_seams_has_its_own_options(capsys):
    import pytest

    with pytest.raises(SystemExit) as stopped:
        main(["eval", "seams", "--help"])
    assert stopped.value.code == 0
    assert "usage: actanywhere eval seams" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    assert "OUT_DIR" in capsys.readouterr().out
