"""`actanywhere`: the one console command.

    actanywhere config show                 the resolved config, with the source of every value
    actanywhere config check FILE           validate one config file
    actanywhere spec check SHOT.yaml        validate a shot spec and print it resolved
    actanywhere generate SHOT.yaml          run a shot (or give it through flags, see --help)
    actanywhere track SHOT.yaml [--out F]   the plate's camera track as JSON and a .nk CornerPin2D (docs/camera.md)
    actanywhere demo                        run the bundled demo shot on the embedded model
    actanywhere model init actanywhere-sd15 --sd15 DIR --motion-adapter DIR --image-encoder DIR --out DIR
    actanywhere model init zeroshot-sd15-inpaint --inpaint DIR --motion-adapter DIR --ip-adapter FILE \
        --ip-image-encoder DIR --out DIR
    actanywhere model init wan-vace --from DIR --out DIR   Wan 2.1 VACE (a local -diffusers folder)
    actanywhere model check DIR             verify a profile directory's files and checksums
    actanywhere synth OUT --split train --count N   synthetic clips with ground truth (docs/synthetic.md)
    actanywhere train-vae VAE.yaml          pretrain a small profile's VAE (docs/training.md)
    actanywhere train TRAINING.yaml         train or fine-tune a profile (docs/training.md)
    actanywhere train-decoder DECODER.yaml  fit a small profile's VAE decoder (and detail pass) to its samples
    actanywhere train-interaction INTERACTION.yaml   train a profile's shadow and contact pass
    actanywhere eval OUT_DIR                score the model against baselines on ground truth (docs/evaluation.md)
    actanywhere eval seams [--width W ...]  the seam score of tiled inference (docs/tiling.md)
    actanywhere serve [--bind ADDR] [--device DEV] [--sandbox DIR]   run the engine (docs/protocol.md)
    actanywhere submit SHOT.yaml --engine tcp://HOST:PORT [--wait]   send a shot to an engine
    actanywhere status JOB | jobs | cancel JOB [--engine ADDR]       ask an engine about its jobs
    actanywhere keys create NAME [--dir DIR]                         make a CurveZMQ key pair
    actanywhere farm submit JOB.yaml [--backend B] [--dry-run OUTDIR] | status | collect JOB_DIR   (docs/farm.md)

Every command takes --config FILE (repeatable) and --set key.path=value (repeatable), the top layers of
the config (docs/config.md). Errors print one line that names the file, frame or key, and exit 2.
Heavy modules (torch, OpenImageIO) are imported only by the commands that need them.
"""
from __future__ import annotations

import argparse
import re
import os
import sys
from typing import List, Optional

from . import __version__, config as config_module, extensions, shotspec
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
    inputs.add_argument("--out", help="output template: a {version} folder, then {pass} and a frame token, e.g. out/{shot}/{version}/{shot}_{pass}_{version}.####.exr")
    inputs.add_argument("--frames", help="frame range, e.g. 1001-1048 or 1001-1100x2")
    inputs.add_argument("--model", help="model profile")
    inputs.add_argument("--steps", type=int, help="denoising steps; 0: the model profile's default")
    inputs.add_argument("--seed", type=int, help="seed of the first variant")
    inputs.add_argument("--variants", type=int, help="number of variants (seeds seed, seed+1, ...)")
    inputs.add_argument("--guidance", type=float,
                        help="classifier-free guidance scale; 0: the model profile's default; 1: no unconditional pass")
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

    track = commands.add_parser("track", parents=[common], help="track the plate's camera (docs/camera.md)")
    track.add_argument("spec", nargs="?", help="shot spec (YAML or JSON)")
    track.add_argument("--track-out", dest="track_out", metavar="FILE",
                       help="the track's JSON file (default SHOT_camera.json); a .nk CornerPin2D is written beside it")
    track.add_argument("--no-cache", action="store_true", help="track again even when the cache has this plate")
    _add_generation_flags(track)

    synth = commands.add_parser("synth", help="write synthetic clips with ground truth (docs/synthetic.md)")
    synth.add_argument("out_dir", help="output folder; each split goes into OUT_DIR/SPLIT")
    synth.add_argument("--split", default="train", choices=("train", "val", "test"), help="split (seeds never shared)")
    synth.add_argument("--count", type=int, default=100, help="number of clips")
    synth.add_argument("--size", default="64x64", help="WIDTHxHEIGHT, multiples of 4")
    synth.add_argument("--frames", type=int, default=16, help="frames per clip")
    synth.add_argument("--seed", type=int, default=0, help="dataset seed")
    synth.add_argument("--photos", metavar="DIR", help="a folder of photos to use as backgrounds too")
    synth.add_argument("--format", default="png", choices=("png", "exr"), dest="file_format", help="frame files")
    synth.add_argument("--new-scene", action="store_true",
                       help="the ground truth in another world under the plate's light, the plate beside it "
                            "(a new-background request with its answer; docs/synthetic.md)")
    synth.add_argument("--demo", action="store_true", help="write the demo shot (320x180 EXR plate and matte) instead")
    synth.add_argument("--quiet", action="store_true", help="no progress bar")

    from .evaluation import harness as eval_harness  # numpy only; the model loads when a run starts

    evaluation = commands.add_parser(
        "eval", help="score a model against baselines on held-out synthetic clips (docs/evaluation.md); "
        "`eval seams --help`: the tiling seam score (docs/tiling.md)"
    )
    eval_harness.add_arguments(evaluation)
    evaluation.add_argument("--quiet", action="store_true", help="no progress bar")

    train_vae = commands.add_parser("train-vae", help="pretrain a small profile's VAE (docs/training.md)")
    train_vae.add_argument("autoencoder_config", help="autoencoder pretraining config YAML")
    train_vae.add_argument("--quiet", action="store_true", help="no progress bar")

    train_decoder = commands.add_parser(
        "train-decoder",
        help="fine-tune a trained profile's VAE decoder and train its detail pass on its own samples (docs/training.md)")
    train_decoder.add_argument("decoder_config", help="decoder fine-tuning config YAML")
    train_decoder.add_argument("--quiet", action="store_true", help="no progress bar")

    train_interaction = commands.add_parser(
        "train-interaction",
        help="train a profile's interaction pass: the subject's shadow and contact (docs/training.md)")
    train_interaction.add_argument("interaction_config", help="interaction training config YAML")
    train_interaction.add_argument("--quiet", action="store_true", help="no progress bar")

    train = commands.add_parser("train", help="train or fine-tune a model profile (docs/training.md)")
    train.add_argument("training_config", help="training config YAML (its own file, not a studio config layer)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")

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
    zeroshot = init_profiles.add_parser(
        "zeroshot-sd15-inpaint", help="SD 1.5 inpainting + AnimateDiff motion adapter + IP-Adapter: no training needed"
    )
    zeroshot.add_argument("--inpaint", required=True, metavar="DIR", help="SD 1.5 inpainting folder (unet/ vae/ text_encoder/ tokenizer/)")
    zeroshot.add_argument("--motion-adapter", required=True, metavar="DIR", help="AnimateDiff motion adapter folder")
    zeroshot.add_argument("--ip-adapter", required=True, metavar="FILE", help="ip-adapter_sd15.bin or .safetensors")
    zeroshot.add_argument("--ip-image-encoder", required=True, metavar="DIR", help="the IP-Adapter's CLIP ViT-H/14 image encoder folder")
    zeroshot.add_argument("--out", required=True, metavar="DIR", help="new profile directory (must not exist)")
    wan = init_profiles.add_parser(
        "wan-vace", help="Wan 2.1 VACE 1.3B or 14B (Apache-2.0): masked video generation from a reference image")
    wan.add_argument("--from", dest="source", required=True, metavar="DIR",
                     help="a local folder laid out as Wan-AI/Wan2.1-VACE-1.3B-diffusers (or -14B-diffusers)")
    wan.add_argument("--name", default="wan-vace", help="the profile's name (default wan-vace)")
    wan.add_argument("--out", required=True, metavar="DIR", help="new profile directory (must not exist)")
    model_check = model_commands.add_parser("check", help="verify a profile directory's files and checksums")
    model_check.add_argument("directory")

    _add_engine_commands(commands, common)
    for extension in extensions.installed():  # the farm's commands, and any other package's
        if extension.add_commands:
            extension.add_commands(commands, common)

    demo = commands.add_parser("demo", parents=[common], help="run the bundled demo shot on the embedded model")
    demo.add_argument("--out", default="demo_out", help="directory for the demo's inputs and outputs (default demo_out)")
    demo.add_argument("--steps", type=int, help="denoising steps (default: the model profile's)")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _add_engine_commands(commands, common: argparse.ArgumentParser) -> None:
    serve = commands.add_parser("serve", parents=[common], help="run the engine: a long-lived service on this host's devices")
    serve.add_argument("--bind", help="address to bind, e.g. tcp://127.0.0.1:5570 (default engine.bind)")
    serve.add_argument("--device", action="append", dest="devices", metavar="DEV", help="cpu, cuda:0, ... (repeatable; default engine.devices)")
    serve.add_argument("--sandbox", action="append", metavar="DIR", help="a directory the engine may read and write (repeatable; default engine.sandbox_roots)")
    serve.add_argument("--journal", metavar="DIR", help="job journal directory (default engine.journal_dir)")
    serve.add_argument("--drain", type=float, default=30.0, metavar="S", help="on SIGTERM, seconds running jobs get to finish before they are cancelled (default 30)")
    serve.add_argument("--no-preload", action="store_true", help="load profiles on first use, not at start")

    client = argparse.ArgumentParser(add_help=False)
    client.add_argument("--engine", metavar="ADDR", help="engine address, e.g. tcp://gpu01:5570 (default engine.endpoint)")
    client.add_argument("--json", action="store_true", help="print the engine's reply as JSON")
    submit = commands.add_parser("submit", parents=[common, client], help="send a shot spec to an engine")
    submit.add_argument("spec", help="shot spec (YAML or JSON)")
    submit.add_argument("--job-id", help="your id for the job (a resend with the same id runs nothing new)")
    submit.add_argument("--priority", type=int, default=0, help="higher runs first, -100 to 100 (default 0)")
    submit.add_argument("--wait", action="store_true", help="wait for the job, showing progress")
    submit.add_argument("--timeout", type=float, metavar="S", help="with --wait: give up waiting after S seconds (the job keeps running)")
    submit.add_argument("--quiet", action="store_true", help="no progress bar")
    status = commands.add_parser("status", parents=[common, client], help="a job's state, progress and result")
    status.add_argument("job_id")
    jobs = commands.add_parser("jobs", parents=[common, client], help="list an engine's jobs")
    jobs.add_argument("--state", choices=("queued", "running", "done", "failed", "cancelled"))
    jobs.add_argument("--all", action="store_true", help="every client's jobs (admin clients only)")
    cancel = commands.add_parser("cancel", parents=[common, client], help="cancel a queued or running job")
    cancel.add_argument("job_id")

    keys = commands.add_parser("keys", help="CurveZMQ key pairs for the engine and its clients")
    key_commands = keys.add_subparsers(dest="keys_command", metavar="create")
    key_commands.required = True
    create = key_commands.add_parser("create", parents=[common], help="write NAME.key (public) and NAME.key_secret (private)")
    create.add_argument("name", help="e.g. engine, or a user or host name")
    create.add_argument("--dir", default=".", help="directory for the two files (default: here)")


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
    return shotspec.resolve(data, config, base_dir=base_dir, source=source)


def _absolute(path: Optional[str]) -> Optional[str]:
    return os.path.abspath(path).replace(os.sep, "/") if path else path


def _shot_name_from_path(path: str) -> str:
    """`/x/sh010_plate.%04d.exr` -> `sh010_plate`: the file name up to the frame token or extension."""
    import unicodedata

    name = os.path.basename(path).split(".")[0]
    # "Plage été 01" -> "Plage_ete_01": accents dropped, anything but ASCII letters, digits, _ - becomes _,
    # so a name nobody typed is always a valid shot name.
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    cleaned = "".join(character if character.isalnum() or character in "_-" else "_" for character in ascii_name)
    return re.sub(r"_+", "_", cleaned).strip("_-")[:64] or "shot"


def main(argv: Optional[List[str]] = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a model hub, whatever the caller set up
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:2] == ["eval", "seams"]:
        # `eval seams` has its own options (docs/tiling.md); `eval OUT_DIR` is the ground-truth harness.
        from .evaluation import seams

        return seams.main(argv[2:])
    arguments = build_parser().parse_args(argv)
    arguments.command_line = argv  # recorded in reports so a run can be repeated
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
    if arguments.command == "synth":
        from .progress_bar import ProgressBar
        from .synth import run_synth

        with ProgressBar(enabled=not arguments.quiet) as bar:
            return run_synth(arguments.out_dir, arguments.split, arguments.count, arguments.size, arguments.frames,
                             arguments.seed, arguments.photos, arguments.file_format, arguments.demo,
                             progress=bar.update, log=bar.write, new_scene=arguments.new_scene)
    if arguments.command == "eval":
        from .evaluation import harness as eval_harness
        from .progress_bar import ProgressBar

        with ProgressBar(enabled=not arguments.quiet) as bar:
            report = eval_harness.run_from_args(arguments, arguments.command_line[1:], progress=bar.update, log=bar.write)
        print("report: %s" % report)
        return 0
    if arguments.command == "train-vae":
        from .progress_bar import ProgressBar
        from .training.autoencoder import run_autoencoder_pretraining

        with ProgressBar(enabled=not arguments.quiet) as bar:
            result = run_autoencoder_pretraining(arguments.autoencoder_config, progress=bar.update, log=bar.write)
        print("starting profile with the pretrained VAE: %s" % result.profile_dir)
        return 0
    if arguments.command == "train-decoder":
        from .progress_bar import ProgressBar
        from .training.decoder_finetune import run_decoder_finetune

        with ProgressBar(enabled=not arguments.quiet) as bar:
            result = run_decoder_finetune(arguments.decoder_config, progress=bar.update, log=bar.write)
        print("profile: %s" % result.profile_dir)
        return 0
    if arguments.command == "train-interaction":
        from .progress_bar import ProgressBar
        from .training.interaction_train import run_interaction_training

        with ProgressBar(enabled=not arguments.quiet) as bar:
            result = run_interaction_training(arguments.interaction_config, progress=bar.update, log=bar.write)
        print("profile: %s" % result.profile_dir)
        return 0
    if arguments.command == "train":
        from .progress_bar import ProgressBar
        from .training import run_training

        with ProgressBar(enabled=not arguments.quiet) as bar:
            result = run_training(arguments.training_config, progress=bar.update, log=bar.write)
        print("trained profile: %s" % result.model_dir if result.model_dir else "stopped at step %d" % result.step)
        return 0
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
    extension = extensions.for_command(arguments.command)
    if extension is not None:
        return extension.run_command(arguments, resolved.config)
    if arguments.command in ("serve", "submit", "status", "jobs", "cancel", "keys"):
        from .service.cli import run_engine_command  # pyzmq only; the workers load torch

        return run_engine_command(arguments, resolved.config)

    from .generate import generate_shot  # torch and OpenImageIO load here, not for config commands
    from .progress_bar import ProgressBar

    if arguments.command == "track":
        return _run_track_command(arguments, resolved.config)

    if arguments.command == "demo":
        from .demo import prepare_demo_shot, write_preview

        spec = prepare_demo_shot(arguments.out, resolved.config, steps=arguments.steps)
    else:
        spec = spec_from_arguments(arguments, resolved.config)
        if arguments.save_spec:
            spec.save(arguments.save_spec)
    with ProgressBar(enabled=not arguments.quiet) as bar:
        results = generate_shot(spec, resolved.config, progress=bar.update, log=bar.write)
    for result in results:
        if arguments.command == "demo":
            for name, path in write_preview(spec, result, arguments.out).items():
                print("%s seed %d %s: %s" % (result.version_name, result.seed, name.replace("_", " "), path))
        for pass_name, path in result.sequences.items():
            print("%s seed %d %s: %s  (%s)" % (result.version_name, result.seed, pass_name, path, result.otio_paths[pass_name]))
    return 0


def _run_track_command(arguments: argparse.Namespace, config: config_module.Config) -> int:
    """The camera track of a shot, as data (JSON) and as a CornerPin2D a compositor pastes into Nuke."""
    from ..plugin.camera_track_nodes import track_snippet  # plain text: the CLI is a front end, like the panel
    from .generate import track_shot
    from .progress_bar import ProgressBar

    spec = spec_from_arguments(arguments, config)
    with ProgressBar(enabled=not arguments.quiet) as bar:
        track, plate = track_shot(spec, progress=bar.update, log=bar.write, use_cache=not arguments.no_cache)
    path = arguments.track_out or "%s_camera.json" % spec.shot
    track.save(path)
    snippet = os.path.splitext(path)[0] + ".nk"
    temporary = "%s.tmp-%d" % (snippet, os.getpid())
    with open(temporary, "w", encoding="utf-8") as stream:
        stream.write(track_snippet(track, plate.width, plate.height, "%s_camera" % spec.shot))
    os.replace(temporary, snippet)
    summary = track.summary()
    print("%s: frames %s, reference frame %d, %s; largest offset %.1f px at %dx%d" % (
        spec.shot, summary["frames"], summary["reference_frame"],
        ", ".join("%s %d" % item for item in summary["flags"].items()), summary["largest_offset_px"],
        track.size[0], track.size[1]))
    print("track: %s" % path)
    print("nuke:  %s  (a CornerPin2D for a %dx%d plate; paste it with Ctrl+V)" % (snippet, plate.width, plate.height))
    return 0


def _run_model_command(arguments: argparse.Namespace) -> int:
    from .model import profile_files

    if arguments.model_command == "check":
        missing = profile_files.missing_files(arguments.directory)
        if missing:
            raise ModelError("%s: missing %s" % (arguments.directory, ", ".join(missing)))
        profile_files.verify_checksums(arguments.directory)
        print("%s: complete, checksum %s" % (arguments.directory, profile_files.checksum(arguments.directory)))
        return 0
    if os.path.exists(arguments.out):
        raise ModelError("%s already exists; profile directories are never overwritten: choose a new --out" % arguments.out)
    if arguments.profile == "wan-vace":
        from .model.backbones.wan_vace import init_profile

        init_profile(arguments.source, arguments.out, name=arguments.name)
        print("%s: wan-vace profile written (usable as it is; set models.profiles.%s: {kind: wan-vace, path: %s})"
              % (arguments.out, arguments.name, os.path.abspath(arguments.out)))
        return 0
    if arguments.profile == "zeroshot-sd15-inpaint":
        from .model.zeroshot import init_zeroshot_sd15_inpaint

        init_zeroshot_sd15_inpaint(
            arguments.inpaint, arguments.motion_adapter, arguments.ip_adapter, arguments.ip_image_encoder, arguments.out
        )
        print("%s: zeroshot-sd15-inpaint profile written (usable as it is)" % arguments.out)
        return 0
    from .model.sd15 import init_actanywhere_sd15

    init_actanywhere_sd15(arguments.sd15, arguments.motion_adapter, arguments.image_encoder, arguments.out)
    print("%s: actanywhere-sd15 profile written (untrained: fine-tune it with `actanywhere train`)" % arguments.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
