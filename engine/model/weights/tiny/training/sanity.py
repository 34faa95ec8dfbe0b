"""Contact sheet of the trained tiny model on val clips: rows per clip = foreground input, condition
(first column) + generated frames, ground truth frames."""
import os, sys
import numpy as np
from actanywhere.engine.media import read_image
from actanywhere.engine.model.pipeline import ActAnywherePipeline
from actanywhere.engine.synth import read_ground_truth, write_png

path = (sys.argv[1] or None) if len(sys.argv) > 1 else None
out = sys.argv[2] if len(sys.argv) > 2 else "/work/tiny_run/sanity.png"
clips = [int(c) for c in (sys.argv[3].split(",") if len(sys.argv) > 3 else ["0", "1", "2"])]
pipe = ActAnywherePipeline.from_profile("tiny", path=path)
gt = read_ground_truth("/work/tiny_run/synth/val/ground_truth.yaml")
def seq(pattern, n=16, first=1001):
    return np.stack([read_image(pattern.replace("####", "%04d" % (first + i)))[0] for i in range(n)])
show = [0, 5, 10, 15]
rows = []
errors = []
for index in clips:
    entry = gt["clips"][index]
    frames = seq(entry["frames"])[..., :3]
    matte = seq(entry["matte"])[..., 0]
    fg = seq(entry["foreground"])[..., :3]
    cond = read_image(entry["condition_background"])[0][..., :3]
    out_frames = pipe(frames, matte, cond, steps=int(os.environ.get("STEPS", 20)), seed=index,
                      guidance_scale=float(os.environ.get("GUIDANCE", 3.0)))
    blank = np.zeros_like(cond)
    errors.append(float(np.abs(out_frames - frames).mean()))
    rows.append(np.concatenate([blank] + [fg[i] for i in show], axis=1))
    rows.append(np.concatenate([cond] + [out_frames[i] for i in show], axis=1))
    rows.append(np.concatenate([blank] + [frames[i] for i in show], axis=1))
    rows.append(np.ones((4, rows[-1].shape[1], 3), np.float32))
sheet = np.concatenate(rows, axis=0)
sheet = np.repeat(np.repeat(sheet, 3, axis=0), 3, axis=1)
write_png(out, np.clip(sheet, 0, 1))
print("mean |generated - ground truth| per clip:", ["%.3f" % e for e in errors])
