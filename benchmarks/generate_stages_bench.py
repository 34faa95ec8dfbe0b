"""Where one shot's time goes in generate: track, read, encode, sample, refine, decode, write, with peak memory.

    HF_HUB_OFFLINE=1 python benchmarks/generate_stages_bench.py [--width 432 --height 240 --frames 24]
        [--profile tiny] [--camera auto|static] [--out DIR]

Writes a synthetic shot (engine/synth's demo writer: a scene-linear EXR plate of a walking figure with a
panning camera, its roto and a condition image) and runs it through `generate_shot` exactly as
`actanywhere generate` does, timing each stage from the progress events every stage reports: the time
from an event of one stage to the first event of another is that stage's. Stages that share one pass over
the frames take turns (read and track, with the refinement's plate-size encode of each frame counted under
track; decode and write frame by frame); `encode` sums the global pass's encode and the refinement's
encode of the upscaled global result. Events are reported after each unit of work, so a stage's time is
right to within one unit (the refinement's decode of each frame lands under write, which asks for it). The reference measured in the same run is one
plain read of the whole plate and matte (OpenImageIO), so the ratios hold on a noisy machine. Last, the
generated background is tracked like a plate and its camera-follow error against the synthetic camera is
printed beside a static plate's (engine/evaluation/plate_metrics.py). The track
cache is pointed at a fresh folder, so tracking is measured, not looked up. Prints, never asserts.
"""
from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from collections import OrderedDict

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=432)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--profile", default="tiny")
    parser.add_argument("--camera", default="auto", choices=("auto", "static"))
    parser.add_argument("--out", default=None, help="work folder (default: a temporary one)")
    args = parser.parse_args(argv)
    out = args.out or tempfile.mkdtemp(prefix="actanywhere_stages_")
    os.environ["ACTANYWHERE_CACHE"] = os.path.join(out, "cache")

    from actanywhere.engine import config as config_module, shotspec
    from actanywhere.engine.generate import generate_shot
    from actanywhere.engine.media.sequence_read import read_sequence
    from actanywhere.engine.synth import write_demo_shot

    config = config_module.load().config
    inputs = write_demo_shot(os.path.join(out, "inputs"), size=(args.width, args.height), frames=args.frames,
                             model_colourspace=config.colour.model_colourspace)
    spec = shotspec.resolve({
        "shot": "bench", "plate": inputs["plate"], "matte": inputs["matte"], "condition": inputs["condition"],
        "frames": inputs["frames"], "condition_frame": inputs["condition_frame"], "model": args.profile,
        "colour": {"plate_colourspace": inputs["plate_colourspace"]}, "camera": {"track": args.camera},
        "output": {"template": os.path.join(out, "out", "{version}", "{shot}_{pass}_{version}.####.exr")},
    }, config, source="benchmark")

    frames = list(range(int(inputs["frames"].split("-")[0]), int(inputs["frames"].split("-")[1]) + 1))
    started = time.perf_counter()
    for _ in zip(read_sequence(spec.plate_sequence, frames), read_sequence(spec.matte_sequence, frames)):
        pass
    reference_s = time.perf_counter() - started

    segments = []  # [stage, started]: a new segment whenever the reporting stage changes

    def progress(event):
        if not segments or segments[-1][0] != event.stage:
            segments.append([event.stage, time.perf_counter()])

    from actanywhere.engine.generate import load_pipeline

    started = time.perf_counter()
    load_pipeline(spec.model, config, log=lambda line: None)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    results = generate_shot(spec, config, progress=progress, log=lambda line: None)
    finished = time.perf_counter()
    total_s = finished - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    spent = OrderedDict()
    for (stage, at), (_, until) in zip(segments, segments[1:] + [["end", finished]]):
        spent[stage] = spent.get(stage, 0.0) + until - at
    print("shot %dx%d x %d frames, profile %s, camera %s, torch threads %s" % (
        args.width, args.height, args.frames, args.profile, args.camera, _threads()))
    print("reference: reading the plate and matte once: %.2f s" % reference_s)
    print("%-12s %9s %9s" % ("stage", "seconds", "x ref"))
    print("%-12s %9.2f %9.1f" % ("load model", load_s, load_s / reference_s))
    print("%-12s %9.2f %9.1f" % ("validate", segments[0][1] - started, (segments[0][1] - started) / reference_s))
    for stage, seconds in spent.items():
        print("%-12s %9.2f %9.1f" % (stage, seconds, seconds / reference_s))
    print("%-12s %9.2f %9.1f" % ("total", total_s, total_s / reference_s))
    print("peak resident memory: %.0f MB" % peak_mb)
    follow, static = camera_follow(spec, inputs, results[0], frames)
    print("camera-follow error of the generated plate: %.2f px (a static plate: %.2f px; %dx%d pixels)"
          % (follow, static, args.width, args.height))


def camera_follow(spec, inputs, result, frames):
    """The generated background tracked like a plate, against the synthetic camera (engine/evaluation)."""
    import numpy as np
    import yaml

    from actanywhere.engine.evaluation.plate_metrics import camera_follow_error
    from actanywhere.engine.media.colour import ColourTransform
    from actanywhere.engine.media.image_read import read_image, read_matte
    from actanywhere.engine.sequence import FrameSequence
    from actanywhere.engine.synth.clips import ground_truth_track

    with open(inputs["info"], encoding="utf-8") as stream:
        info = yaml.safe_load(stream)
    to_display = ColourTransform(spec.colour.plate_colourspace, spec.colour.model_colourspace, spec.colour.ocio_config)
    background = FrameSequence.parse(result.sequences["bg"])
    video = np.stack([np.clip(to_display.apply(read_image(background.path(f))[0][..., :3]), 0, 1) for f in frames])
    matte = np.stack([read_matte(spec.matte_sequence.path(f)) for f in frames])
    reference = int(inputs["condition_frame"]) - frames[0]
    height, width = matte.shape[1:]
    path = ground_truth_track(info["plate"]["camera_path"], width, height, reference).reference_centre_path(width, height)
    static = float(np.linalg.norm(path - path[reference], axis=1).mean())
    return camera_follow_error(video, matte, path, reference), static


def _threads():
    import torch

    return torch.get_num_threads()


if __name__ == "__main__":
    main()
