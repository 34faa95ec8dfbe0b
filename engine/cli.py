"""`actanywhere`: the one console command.

    actanywhere config show                 the resolved config, with the source of every value
    actanywhere config check FILE           validate one config file
    actanywhere spec check SHOT.yaml        validate a shot spec and print it resolved
    actanywhere generate SHOT.yaml          run a shot (or give it through flags, see --help)
    actanywhere demo                        run the bundled demo shot on the embedded model
    actanywhere model init actanywhere-sd15 --sd15 DIR --motion-adapter DIR --image-encoder DIR --out DIR
    actanywhere model check DIR             verify a profile directory's files and checksums

Every command takes --config FILE (repeatable) and --set key.path=value (repeatable), the top layers of
the config (docs/config.md). Errors print one line that names the file, frame or key, and exit 2.
Heavy modules (torch, OpenImageIO) are imported only by the commands that need them.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

from . import __version__, config as config_module, shotspec
from .errors import ActAnywhereError, ModelError, ShotSpecError


def _config_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("config layers")
    group.add_argument("--config", action="append", default=[], metavar="FILE", help="a config file layered on top (repeatable)")
    group.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides", help="one config value, e.g. sampler.steps=30 (repeatable)")
    return parent


def _add_generation_flags(parser: argparse.ArgumentParser) -> None:
    inputs = parser.add_argument_group("shot (instead of, or on top of, a SHOT.yaml)")
    inputs.add_argument("--shot", help="shot name (default: taken from the plate file name)")
    inputs.add_argument("--plate", help="plate frame sequence, e.g. plate.%%04d.exr or plate.####.exr")
    inputs.add_argument("--matte", help="matte frame sequence")
    inputs.add_argument("--matte-channel", help="matte channel (default A)")
    inputs.add_argument("--condition", help="condition image")
    inputs.add_argument("--out", help="output template with {version}, e.g. out/{shot}_{pass}_{version}.####.exr")
    inputs.add_argument("--frames", help="frame range, e.g. 1001-1048 or 1001-1100x2")
    inputs.add_argument("--model", help="model profile")
    inputs.add_argument("--steps", type=int, help="denoising steps")
    inputs.add_argument("--seed", type=int, help="seed of the first variant")
    inputs.add_argument("--variants", type=int, help="number of variants (seeds seed, seed+1, ...)")
    inputs.add_argument("--guidance", type=float, help="classifier-free guidance scale")
    inputs.add_argument("--scheduler", help="ddim or dpmsolver++")
    parser.add_argument("--save-spec", metavar="PATH", help="also write the resolved shot spec here")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    common = _config_options()
    parser = argparse.ArgumentParser(prog="actanywhere", description="Subject-aware background plates for Nuke.")
    parser.add_argument("--version", action="version", version="actanywhere " + __version__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    config_parser = commands.add_parser("config", help="show or check configuration")
    config_commands = config_parser.add_subparsers(dest="config_command", metavar="show|check")
    config_commands.required = True
    config_commands.add_parser("show", parents=[common], help="print the resolved config and each value's source")
    check = config_commands.add_parser("check", parents=[common], help="validate one config file")
    check.add_argument("file")

    spec_parser = commands.add_parser("spec", help="validate a shot spec")
    spec_commands = spec_parser.add_subparsers(dest="spec_command", metavar="check")
    spec_commands.required = True
    spec_check = spec_commands.add_parser("check", parents=[common], help="validate a shot spec and print it resolved")
    spec_check.add_argument("spec")

    generate = commands.add_parser("generate", parents=[common], help="generate background plates for a shot")
    generate.add_argument("spec", nargs="?", help="shot spec (YAML or JSON)")
    _add_generation_flags(generate)

    model_parser = commands.add_parser("model", help="build or check model profile directories")
    model_commands = model_parser.add_subparsers(dest="model_command", metavar="init|check")
    model_commands.required = True
    init = model_commands.add_parser("init", help="build a profile directory from local public weights")
    init_profiles = init.add_subparsers(dest="profile", metavar="PROFILE")
    init_profiles.required = True
    sd15 = init_profiles.add_parser(
        "actanywhere-sd15", help="SD 1.5 + AnimateDiff motion adapter + CLIP image encoder, conv_in widened to 9 channels"
    )
    sd15.add_argument("--sd15", required=True, metavar="DIR", help="Stable Diffusion 1.5 folder (holds unet/ and vae/)")
    sd15.add_argument("--motion-adapter", required=True, metavar="DIR", help="AnimateDiff motion adapter folder")
    sd15.add_argument("--image-encoder", required=True, metavar="DIR", help="CLIP ViT-L/14 vision model folder")
    sd15.add_argument("--out", required=True, metavar="DIR", help="new profile directory (must not exist)")
    model_check = model_commands.add_parser("check", help="verify a profile directory's files and checksums")
    model_check.add_argument("directory")

    demo = commands.add_parser("demo", parents=[common], help="run the bundled demo shot on the embedded model")
    demo.add_argument("--out", default="demo_out", help="directory for the demo's inputs and outputs (default demo_out)")
    demo.add_argument("--steps", type=int, help="denoising steps")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def spec_from_arguments(arguments: argparse.Namespace, config: config_module.Config) -> shotspec.ShotSpec:
    """A shot spec from a SHOT.yaml, the flags, or both (flags win)."""
    data = {}
    base_dir = os.getcwd()
    source = "command line"
    if arguments.spec:
        data = config_module.read_yaml_mapping(arguments.spec, "shot spec")
        base_dir = os.path.dirname(os.path.abspath(arguments.spec))
        source = arguments.spec
    flat = {
        "shot": arguments.shot,
        "plate": _absolute(arguments.plate),
        "matte": _absolute(arguments.matte),
        "matte_channel": arguments.matte_channel,
        "condition": _absolute(arguments.condition),
        "frames": arguments.frames,
        "model": arguments.model,
    }
    data.update({key: value for key, value in flat.items() if value is not None})
    nested = {
        ("sampler", "steps"): arguments.steps,
        ("sampler", "seed"): arguments.seed,
        ("sampler", "variants"): arguments.variants,
        ("sampler", "guidance"): arguments.guidance,
        ("sampler", "scheduler"): arguments.scheduler,
        ("output", "template"): _absolute(arguments.out),
    }
    for (section, key), value in nested.items():
        if value is not None:
            data[section] = dict(data.get(section) or {}, **{key: value})
    if "shot" not in data and data.get("plate"):
        data["shot"] = _shot_name_from_path(data["plate"])
    missing = [name for name in ("plate", "matte", "condition") if not data.get(name)]
    if missing:
        raise ShotSpecError(
            "%s: %s not given; pass a SHOT.yaml or --%s" % (source, ", ".join(missing), " --".join(missing))
        )
    return shotspec.from_data(data, config, base_dir=base_dir, source=source)


def _absolute(path: Optional[str]) -> Optional[str]:
    return os.path.abspath(path).replace(os.sep, "/") if path else path


def _shot_name_from_path(path: str) -> str:
    """`/x/sh010_plate.%04d.exr` -> `sh010_plate`: the file name up to the frame token or extension."""
    name = os.path.basename(path).split(".")[0]
    cleaned = "".join(character if character.isalnum() or character in "_-" else "_" for character in name)
    return cleaned.strip("_-") or "shot"


def main(argv: Optional[List[str]] = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a model hub, whatever the caller set up
    arguments = build_parser().parse_args(argv)
    try:
        return _run(arguments)
    except ActAnywhereError as error:
        print("actanywhere: error: %s" % error, file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("actanywhere: interrupted; no output version was published", file=sys.stderr)
        return 130


def _run(arguments: argparse.Namespace) -> int:
    if arguments.command == "model":
        return _run_model_command(arguments)
    if arguments.command == "config" and arguments.config_command == "check":
        config_module.check_file(arguments.file)
        print("%s: valid" % arguments.file)
        return 0
    resolved = config_module.load(arguments.config, arguments.overrides)
    if arguments.command == "config":
        print("# layers, lowest first: %s" % ", ".join(resolved.layers))
        sys.stdout.write(resolved.to_yaml())
        return 0
    if arguments.command == "spec":
        spec = shotspec.load(arguments.spec, resolved.config)
        sys.stdout.write(spec.to_yaml())
        return 0

    from .generate import generate_shot  # torch and OpenImageIO load here, not for config commands
    from .progress_bar import ProgressBar

    if arguments.command == "demo":
        from .demo import prepare_demo_shot

        spec = prepare_demo_shot(arguments.out, resolved.config, steps=arguments.steps)
    else:
        spec = spec_from_arguments(arguments, resolved.config)
        if arguments.save_spec:
            spec.save(arguments.save_spec)
    with ProgressBar(enabled=not arguments.quiet) as bar:
        results = generate_shot(spec, resolved.config, progress=bar.update, log=bar.write)
    for result in results:
        for pass_name, path in result.sequences.items():
            print("%s seed %d %s: %s  (%s)" % (result.version_name, result.seed, pass_name, path, result.otio_paths[pass_name]))
    return 0


def _run_model_command(arguments: argparse.Namespace) -> int:
    from .model import weights

    if arguments.model_command == "check":
        missing = weights.missing_files(arguments.directory)
        if missing:
            raise ModelError("%s: missing %s" % (arguments.directory, ", ".join(missing)))
        weights.verify_checksums(arguments.directory)
        print("%s: complete, checksum %s" % (arguments.directory, weights.checksum(arguments.directory)))
        return 0
    if os.path.exists(arguments.out):
        raise ModelError("%s already exists; profile directories are never overwritten: choose a new --out" % arguments.out)
    from .model.sd15 import init_actanywhere_sd15

    init_actanywhere_sd15(arguments.sd15, arguments.motion_adapter, arguments.image_encoder, arguments.out)
    print("%s: actanywhere-sd15 profile written (untrained: fine-tune it with `actanywhere train`)" % arguments.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
