"""The evaluation report: per-clip and summary CSV, a Markdown table (mean +- std over seeds), bar
plots drawn with numpy (no matplotlib), contact sheets, and the goal checks.

Rows are plain dicts: {"method", "seed", "clip", <metric>: value, ...}. A row whose clip is SET_ROW holds
metrics of a whole set of videos (FVD). Aggregation: for each method and seed, the mean over clips
(NaN skipped; +inf kept, so identical pixels show as inf); then the mean and the sample standard
deviation of those per-seed values over seeds.
"""
from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .. import preview

SET_ROW = "*"


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    better: str  # "higher", "lower", or "one" (closest to 1.0 is right)
    digits: int = 3
    needs_real: bool = False  # CLIP and FVD: printed only with real weights


METRICS = (
    Metric("psnr_outside", "PSNR outside subject (dB)", "higher", 2),
    Metric("psnr_rest", "PSNR outside subject and band (dB)", "higher", 2),
    Metric("ssim_outside", "SSIM outside subject", "higher", 3),
    Metric("band_mae", "shadow/contact band MAE", "lower", 4),
    Metric("rest_mae", "MAE outside subject and band", "lower", 4),
    Metric("flicker_error", "flicker error vs GT", "lower", 4),
    Metric("temporal_mae", "temporal MAE vs GT", "lower", 4),
    Metric("fg_max_error", "foreground max error", "lower", 4),
    Metric("shadow_recovery", "shadow recovery", "higher", 3),
    Metric("sharpness", "sharpness vs GT", "one", 3),
    Metric("camera_follow_px", "camera-follow error (px)", "lower", 2),
    Metric("clip_cond", "CLIP_cond", "higher", 4, True),
    Metric("clip_temp", "CLIP_temp", "higher", 4, True),
    Metric("fvd", "FVD", "lower", 1, True),
)
METRIC_BY_KEY = {metric.key: metric for metric in METRICS}

METHODS = ("model", "model_no_hint", "model_no_interaction", "model_static", "model_raw", "tracked_paste", "paste", "condition")
METHOD_LABELS = {
    "model": "ActAnywhere (comp)",
    "model_no_hint": "ActAnywhere, interaction pass without the plate's shadow hint (comp)",
    "model_no_interaction": "ActAnywhere without its interaction pass (comp)",
    "model_static": "ActAnywhere, camera not tracked (comp)",
    "model_raw": "ActAnywhere (raw output)",
    "tracked_paste": "tracked paste baseline",
    "paste": "paste baseline",
    "condition": "condition image alone",
}
SHORT_LABELS = {"model": "model", "model_no_hint": "no-hint", "model_no_interaction": "no-int", "model_static": "static",
                "model_raw": "raw", "tracked_paste": "tpaste",
                "paste": "paste", "condition": "cond."}
COLOURS = {"model": (0.20, 0.45, 0.80), "model_no_hint": (0.45, 0.55, 0.30), "model_no_interaction": (0.30, 0.60, 0.55),
           "model_static": (0.35, 0.35, 0.75), "model_raw": (0.55, 0.70, 0.90),
           "tracked_paste": (0.90, 0.65, 0.20), "paste": (0.85, 0.45, 0.20), "condition": (0.55, 0.55, 0.55)}
PLOTTED = ("band_mae", "shadow_recovery", "sharpness", "camera_follow_px", "flicker_error", "temporal_mae",
           "psnr_rest", "psnr_outside", "ssim_outside")
SHARPNESS_FLOOR = 0.8  # the bar: a plate this much softer than the truth is visibly blurred
CAMERA_TOLERANCE_PX = 1.0


# -- aggregation -----------------------------------------------------------------------------------------------
def _mean(values: Sequence[float]) -> float:
    values = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not values:
        return float("nan")
    if any(math.isinf(v) for v in values):
        return float(np.mean([v for v in values if math.isinf(v)]))
    return float(np.mean(values))


def per_seed(rows: Sequence[dict], method: str, key: str) -> Dict[int, float]:
    """{seed: mean over clips} of one metric of one method."""
    seeds = sorted({row["seed"] for row in rows if row["method"] == method and key in row})
    return {seed: _mean([row[key] for row in rows if row["method"] == method and row["seed"] == seed and key in row])
            for seed in seeds}


def summarise(rows: Sequence[dict]) -> Dict[str, Dict[str, Tuple[float, float, int]]]:
    """{method: {metric: (mean over seeds, std over seeds, seed count)}}."""
    summary: Dict[str, Dict[str, Tuple[float, float, int]]] = {}
    for method in [m for m in METHODS if any(row["method"] == m for row in rows)]:
        summary[method] = {}
        for metric in METRICS:
            values = [v for v in per_seed(rows, method, metric.key).values() if not math.isnan(v)]
            if not values:
                continue
            if any(math.isinf(v) for v in values):
                summary[method][metric.key] = (_mean(values), 0.0, len(values))
                continue
            std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
            summary[method][metric.key] = (float(np.mean(values)), std, len(values))
    return summary


def format_value(mean: float, std: float, digits: int) -> str:
    if math.isinf(mean):
        return "inf" if mean > 0 else "-inf"
    return "%.*f ± %.*f" % (digits, mean, digits, std)


# -- goal checks -------------------------------------------------------------------------------------------------
def goal_checks(summary, model: str = "model", baseline: str = "paste", psnr_tolerance_db: float = 2.0
                ) -> List[Tuple[str, Optional[bool], str]]:
    """The issue's goals, each (claim, passed or None when not measurable, detail).

    "Beats by more than the spread": the baseline's mean minus the model's exceeds the sum of the two
    standard deviations over seeds."""
    checks = []
    for key in ("band_mae", "flicker_error"):
        metric = METRIC_BY_KEY[key]
        a, b = summary.get(model, {}).get(key), summary.get(baseline, {}).get(key)
        claim = "model beats %s on %s by more than the spread over seeds" % (baseline, metric.label)
        if a is None or b is None:
            checks.append((claim, None, "not measured"))
            continue
        margin, spread = b[0] - a[0], a[1] + b[1]
        checks.append((claim, bool(margin > spread),
                       "%s %.4f vs %s %.4f: margin %.4f, spread (sum of stds) %.4f" % (model, a[0], baseline, b[0],
                                                                                      margin, spread)))
    a, b = summary.get(model, {}).get("psnr_rest"), summary.get(baseline, {}).get("psnr_rest")
    claim = "model's PSNR outside subject and band within %.0f dB of %s (or better)" % (psnr_tolerance_db, baseline)
    if a is None or b is None:
        checks.append((claim, None, "not measured"))
    else:
        checks.append((claim, bool(a[0] >= b[0] - psnr_tolerance_db),
                       "%s %.2f dB vs %s %.2f dB (difference %+.2f dB)" % (model, a[0], baseline, b[0], a[0] - b[0])))
    return checks + plate_checks(summary, model)


def plate_checks(summary, model: str = "model", baseline: str = "tracked_paste") -> List[Tuple[str, Optional[bool], str]]:
    """The checks a blurred or static plate cannot pass: against the tracked paste (what a compositor does
    with a 2D track), shadow-band error and shadow recovery beaten by more than the spread, the camera
    followed as well (within CAMERA_TOLERANCE_PX), and a plate at least SHARPNESS_FLOOR as sharp as the truth."""
    checks = []
    mine, theirs = summary.get(model, {}), summary.get(baseline, {})
    for key, sign in (("band_mae", 1.0), ("shadow_recovery", -1.0)):
        label = METRIC_BY_KEY[key].label
        claim = "model beats %s on %s by more than the spread over seeds" % (baseline, label)
        if key not in mine or key not in theirs:
            checks.append((claim, None, "not measured"))
            continue
        margin, spread = sign * (theirs[key][0] - mine[key][0]), mine[key][1] + theirs[key][1]
        checks.append((claim, bool(margin > spread), "%s %.4f vs %s %.4f: margin %.4f, spread %.4f"
                       % (model, mine[key][0], baseline, theirs[key][0], margin, spread)))
    claim = "model's camera-follow error within %.0f px of %s's" % (CAMERA_TOLERANCE_PX, baseline)
    if "camera_follow_px" not in mine or "camera_follow_px" not in theirs:
        checks.append((claim, None, "not measured"))
    else:
        a, b = mine["camera_follow_px"][0], theirs["camera_follow_px"][0]
        checks.append((claim, bool(a <= b + CAMERA_TOLERANCE_PX), "%s %.2f px vs %s %.2f px" % (model, a, baseline, b)))
    claim = "model's sharpness at least %.1f of the ground truth's" % SHARPNESS_FLOOR
    if "sharpness" not in mine:
        checks.append((claim, None, "not measured"))
    else:
        checks.append((claim, bool(mine["sharpness"][0] >= SHARPNESS_FLOOR), "%s %.3f" % (model, mine["sharpness"][0])))
    return checks


def losses(summary, model: str = "model", baseline: str = "paste") -> List[str]:
    """The metrics where the model's mean is worse than the baseline's."""
    found = []
    for metric in METRICS:
        a, b = summary.get(model, {}).get(metric.key), summary.get(baseline, {}).get(metric.key)
        if a is None or b is None or a[0] == b[0]:
            continue
        if metric.better == "one":
            worse = abs(a[0] - 1.0) > abs(b[0] - 1.0)
        else:
            worse = a[0] < b[0] if metric.better == "higher" else a[0] > b[0]
        if worse:
            found.append("%s: %s %s vs %s %s" % (metric.label, model, format_value(a[0], a[1], metric.digits),
                                                baseline, format_value(b[0], b[1], metric.digits)))
    return found


# -- files -------------------------------------------------------------------------------------------------------
def write_rows_csv(path: str, rows: Sequence[dict]) -> str:
    columns = ["method", "seed", "clip"]
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, columns, restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_value(v) for k, v in row.items()})
    return path


def _csv_value(value):
    if isinstance(value, float):
        return "%.6g" % value
    return value


def write_summary_csv(path: str, summary, show_real: bool = True) -> str:
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["method", "metric", "mean", "std", "seeds", "better"])
        for method, values in summary.items():
            for metric in METRICS:
                if metric.key in values and (show_real or not metric.needs_real):
                    mean, std, count = values[metric.key]
                    writer.writerow([method, metric.key, "%.6g" % mean, "%.6g" % std, count, metric.better])
    return path


def markdown_table(summary, metrics: Optional[Sequence[str]] = None) -> str:
    """Methods as rows, metrics as columns, mean ± std over seeds."""
    keys = [m.key for m in METRICS if any(m.key in values for values in summary.values())]
    if metrics is not None:
        keys = [key for key in metrics if key in keys]
    arrows = {"higher": "↑", "lower": "↓", "one": "→1"}
    header = "| method | " + " | ".join("%s %s" % (METRIC_BY_KEY[k].label, arrows[METRIC_BY_KEY[k].better])
                                       for k in keys) + " |"
    lines = [header, "|---|" + "---|" * len(keys)]
    for method, values in summary.items():
        cells = []
        for key in keys:
            metric = METRIC_BY_KEY[key]
            cells.append(format_value(*values[key][:2], metric.digits) if key in values else "–")
        lines.append("| %s | %s |" % (METHOD_LABELS.get(method, method), " | ".join(cells)))
    return "\n".join(lines)


# -- pictures ----------------------------------------------------------------------------------------------------
def bar_plot(path: str, title: str, values: Sequence[Tuple[str, float, float, Tuple[float, float, float]]],
             width: int = 360, height: int = 200) -> str:
    """A bar chart PNG: one bar per (label, mean, std, colour), an error bar of +-std, values printed."""
    image = np.ones((height, width, 3), np.float32)
    left, right, top, bottom = 40, width - 10, 28, height - 26
    finite = [(label, mean, std, colour) for label, mean, std, colour in values if np.isfinite(mean)]
    top_value = max([mean + std for _, mean, std, _ in finite] + [1e-12])
    low_value = min([0.0] + [mean - std for _, mean, std, _ in finite])
    span = top_value - low_value or 1.0

    def y_of(value: float) -> int:
        return int(round(bottom - (value - low_value) / span * (bottom - top)))

    image[top:bottom + 1, left] = 0.2
    image[y_of(0.0), left:right] = 0.2
    texts = [(6, 16, title)]
    count = max(1, len(values))
    slot = (right - left) / count
    for index, (label, mean, std, colour) in enumerate(values):
        x0 = int(left + slot * index + slot * 0.2)
        x1 = int(left + slot * (index + 1) - slot * 0.2)
        centre = (x0 + x1) // 2
        texts.append((x0, height - 8, label))
        if not np.isfinite(mean):
            texts.append((x0, y_of(0.0) - 4, "inf" if mean > 0 else "n/a"))
            continue
        y0, y1 = sorted((y_of(0.0), y_of(mean)))
        image[y0:y1 + 1, x0:x1] = colour
        if std > 0:
            ya, yb = sorted((y_of(mean - std), y_of(mean + std)))
            image[max(ya, 0):yb + 1, centre] = 0.0
            image[max(ya, 0), centre - 3:centre + 4] = 0.0
            image[min(yb, height - 1), centre - 3:centre + 4] = 0.0
        texts.append((x0, max(12, min(y_of(mean + std), y_of(mean)) - 4), _short(mean)))
    preview.write_png(path, _draw_text(image, texts, (0.1, 0.1, 0.1)))
    return path


def _short(value: float) -> str:
    return "%.3g" % value


def _draw_text(image: np.ndarray, texts, colour) -> np.ndarray:
    """Text with OpenImageIO's built-in font; the image unchanged when no font is available."""
    import OpenImageIO as oiio

    buffer = oiio.ImageBuf(np.ascontiguousarray(image))
    for x, y, text in texts:
        if not oiio.ImageBufAlgo.render_text(buffer, int(x), int(y), text, 12, "", colour):
            return image
    return buffer.get_pixels(oiio.FLOAT).reshape(image.shape)


def write_plots(out_dir: str, summary, prefix: str = "eval_", metrics: Sequence[str] = PLOTTED) -> List[str]:
    paths = []
    for key in metrics:
        metric = METRIC_BY_KEY[key]
        values = [(SHORT_LABELS.get(method, method), *summary[method][key][:2], COLOURS.get(method, (0.3, 0.3, 0.3)))
                  for method in summary if key in summary[method]]
        if not values:
            continue
        title = "%s (%s is better)" % (metric.label, "1.0" if metric.better == "one" else metric.better)
        paths.append(bar_plot(os.path.join(out_dir, "%s%s.png" % (prefix, key)), title, values))
    return paths


def clip_sheet(gt: np.ndarray, outputs: Dict[str, np.ndarray], band: np.ndarray, condition: np.ndarray,
               columns: int = 6, scale: int = 2, error_gain: float = 4.0) -> np.ndarray:
    """One clip's sheet: rows ground truth (+ the condition image), each method's output, the model's
    and the paste baseline's |error| x error_gain, the evaluation band."""
    picks = np.unique(np.linspace(0, gt.shape[0] - 1, columns).round().astype(int))
    rows = [("ground truth", [gt[i] for i in picks] + [condition])]
    for method in METHODS:
        if method in outputs:
            rows.append((SHORT_LABELS.get(method, method), [outputs[method][i] for i in picks]))
    for method in ("model", "tracked_paste"):
        if method in outputs:
            error = np.clip(np.abs(outputs[method] - gt).mean(axis=-1) * error_gain, 0.0, 1.0)
            rows.append(("|%s-GT| x%g" % (SHORT_LABELS[method], error_gain), [error[i] for i in picks]))
    rows.append(("band", [band[i].astype(np.float32) for i in picks]))
    return preview.contact_sheet(rows, scale=scale)
