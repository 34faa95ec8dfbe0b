"""The layered config: precedence, provenance, ${ENV}, relative paths, and errors naming file and key."""
import os
import textwrap

import pytest

from actanywhere.engine import config
from actanywhere.engine.errors import ConfigError


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_defaults_load_and_every_value_has_a_source():
    resolved = config.load(environ={})
    assert resolved.config.sampler.steps == 0 and resolved.config.sampler.guidance == 0.0  # the profile's
    assert isinstance(resolved.config.sampler.guidance, float)
    assert resolved.config.models.default_profile == "tiny"
    assert resolved.sources["sampler.steps"] == config.BUILT_IN
    assert "# built-in default.yaml" in resolved.to_yaml()


def test_layers_apply_in_order_and_report_their_source(tmp_path):
    studio = write(tmp_path / "studio.yaml", "sampler: {steps: 30, guidance: 5.0}\n")
    show = write(tmp_path / "show.yaml", "sampler: {steps: 40}\n")
    shot = write(tmp_path / "shot.yaml", "sampler: {seed: 11}\n")
    flag_file = write(tmp_path / "flag.yaml", "sampler: {seed: 12}\n")
    environ = {"ACTANYWHERE_CONFIG": studio, "ACTANYWHERE_SHOW_CONFIG": show, "ACTANYWHERE_SHOT_CONFIG": shot}
    resolved = config.load([flag_file], ["sampler.scheduler=dpmsolver++"], environ=environ)
    sampler = resolved.config.sampler
    assert (sampler.steps, sampler.guidance, sampler.seed, sampler.scheduler) == (40, 5.0, 12, "dpmsolver++")
    assert resolved.sources["sampler.guidance"].startswith(studio)
    assert resolved.sources["sampler.steps"].startswith(show)
    assert resolved.sources["sampler.seed"] == flag_file
    assert resolved.sources["sampler.scheduler"] == "--set sampler.scheduler=dpmsolver++"
    shown = resolved.to_yaml()
    assert "steps: 40  # %s (ACTANYWHERE_SHOW_CONFIG)" % show in shown


def test_environment_expansion_and_paths_relative_to_their_file(tmp_path):
    (tmp_path / "studio").mkdir()
    studio = write(
        tmp_path / "studio" / "studio.yaml",
        """
        models:
          profiles:
            big: {kind: actanywhere-sd15, path: weights/big}
            shared: {kind: actanywhere-sd15, path: "${MODELS_ROOT}/sd15"}
        output:
          template: "${SHOW_ROOT:-/shows/default}/{shot}/{version}/{shot}_{pass}_{version}.$F4.exr"
        """,
    )
    resolved = config.load(environ={"ACTANYWHERE_CONFIG": studio, "MODELS_ROOT": "/models"})
    profiles = resolved.config.models.profiles
    assert profiles["big"].path == (tmp_path / "studio" / "weights" / "big").as_posix()
    assert profiles["shared"].path == "/models/sd15"
    assert profiles["tiny"].kind == "tiny"  # mappings merge key by key
    # the fallback applies, and Houdini's $F4 frame token is not mistaken for a variable
    assert resolved.config.output.template == "/shows/default/{shot}/{version}/{shot}_{pass}_{version}.$F4.exr"


def test_default_relative_template_resolves_against_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    template = config.load(environ={}).config.output.template
    assert template.startswith(tmp_path.as_posix() + "/actanywhere_out/")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("sampler: {stepz: 3}\n", "sampler.stepz: unknown key; known keys here: guidance, prompt, scheduler, seed, steps, variants"),
        ("sampler: {steps: ten}\n", "sampler.steps: expected an integer, got 'ten'"),
        ("sampler: {scheduler: euler}\n", "sampler.scheduler: 'euler' is not allowed; choose one of: ddim, dpmsolver++"),
        ("models: {device: gpu0}\n", "models.device: 'gpu0' is not one of auto, cpu, cuda, cuda:N"),
        ("engine: {devices: [cuda:0, gpu]}\n", "engine.devices[1]: 'gpu' is not one of auto, cpu, cuda, cuda:N"),
        ("output: {template: out.####.exr}\n", "output.template: 'out.####.exr': {version} must name a folder"),
        ("engine: {devices: cuda}\n", "engine.devices: expected a list of strings, got 'cuda'"),
        ("models: {profiles: {x: {kind: sd3}}}\n", "models.profiles.x.kind: 'sd3' is not allowed"),
        ("- a list\n", "a config file must be a mapping of keys, found list"),
        ("sampler: {steps: [1\n", "not valid YAML"),
    ],
)
def test_bad_files_name_the_file_and_the_key(tmp_path, text, expected):
    bad = write(tmp_path / "bad.yaml", text)
    with pytest.raises(ConfigError) as caught:
        config.check_file(bad, environ={})
    message = str(caught.value)
    assert message.startswith(bad)
    assert expected in message


def test_undefined_environment_variable_is_named(tmp_path):
    bad = write(tmp_path / "bad.yaml", "output: {template: '${NO_SUCH_ROOT}/{version}/x.####.exr'}\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: output.template: environment variable NO_SUCH_ROOT is not set"):
        config.check_file(bad, environ={})


def test_bad_layer_from_environment_is_named(tmp_path):
    bad = write(tmp_path / "show.yaml", "sampler: {guidance: -1}\n")
    with pytest.raises(ConfigError, match=r"show.yaml: sampler.guidance: -1 is below the minimum 0"):
        config.load(environ={"ACTANYWHERE_SHOW_CONFIG": bad})


def test_missing_layer_file_is_named():
    with pytest.raises(ConfigError, match=r"/nowhere/studio.yaml: config file not found"):
        config.load(environ={"ACTANYWHERE_CONFIG": "/nowhere/studio.yaml"})


@pytest.mark.parametrize("override", ["sampler.steps", "sampler.steps=-1", "nothing.here=1"])
def test_bad_overrides_are_named(override):
    with pytest.raises(ConfigError, match="--set " + override.replace(".", r"\.")):
        config.load(overrides=[override], environ={})


def test_cross_field_rules_are_checked_on_the_merged_config(tmp_path):
    studio = write(tmp_path / "studio.yaml", "tiling: {window_frames: 8}\n")
    shot = write(tmp_path / "shot.yaml", "tiling: {window_overlap: 8}\n")
    with pytest.raises(ConfigError, match=r"tiling: window_overlap \(8\) must be smaller than window_frames \(8\)"):
        config.load([shot], environ={"ACTANYWHERE_CONFIG": studio})


def test_cross_layer_problem_is_reported_with_the_layers(tmp_path):
    studio = write(tmp_path / "studio.yaml", "models: {default_profile: big}\n")
    with pytest.raises(ConfigError, match=r"merged config .*studio.yaml.*default_profile 'big' names no profile"):
        config.load(environ={"ACTANYWHERE_CONFIG": studio})


def test_shipped_default_file_validates():
    config.check_file(config.default_config_path(), environ={})
    assert os.path.basename(config.default_config_path()) == "default.yaml"
