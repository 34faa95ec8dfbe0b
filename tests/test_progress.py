"""Progress output that is not a terminal: plain `describe` lines, one per stage or every few seconds
(engine/progress.py ProgressLog), written by the CLI's ProgressBar and, as `openjd_status` lines, by
farm tasks (farm/tasks.py ProgressLines). A terminal keeps its tqdm bars."""
import io

from actanywhere.engine.progress import ProgressEvent, ProgressLog, describe, format_duration
from actanywhere.engine.progress_bar import ProgressBar
from actanywhere.farm.tasks import ProgressLines


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Terminal(io.StringIO):
    def isatty(self):
        return True


def encode(done, total=48, eta_s=None):
    return ProgressEvent("encode", done, total, frame=done - 1, eta_s=eta_s)


def test_describe_names_the_stage_and_its_count():
    assert describe(encode(12, eta_s=90.0)) == "encode frame 12/48 eta 1m30s"
    assert describe(encode(48, eta_s=0.0)) == "encode frame 48/48"  # no eta once the stage is done
    assert describe(ProgressEvent("train", 10, 150, step=10, steps=150, message="loss 0.1200")) == \
        "train step 10/150 loss 0.1200"
    assert describe(ProgressEvent("sample", 8, 24, step=2, steps=6, window=2, windows=2, tile=1, tiles=2,
                                  eta_s=4000)) == "sample 8/24 step 2/6 window 2/2 tile 1/2 eta 1h06m"
    assert describe(ProgressEvent("eval", 3, 4)) == "eval 3/4"
    assert describe(ProgressEvent("sample", 2, 4, step=2, steps=4, window=1, windows=1, tile=1, tiles=1, eta_s=0.2)) \
        == "sample step 2/4"  # no window 1/1, tile 1/1 or eta 0s
    assert describe(encode(12, eta_s=90.0), eta=False) == "encode frame 12/48"
    assert [format_duration(s) for s in (0.4, 59, 61, 3600)] == ["0s", "59s", "1m01s", "1h00m"]


def test_progress_log_writes_one_line_per_stage_and_at_most_one_every_interval():
    lines, clock = [], Clock()
    log = ProgressLog(lines.append, interval_s=5.0, clock=clock)
    for done in range(1, 49):  # 48 frames, one every 0.5 s
        log(encode(done))
        clock.now += 0.5
    # the first event, then one once 5 s have passed since the last line, and the stage's end
    assert lines == ["encode frame %d/48" % done for done in (1, 11, 21, 31, 41, 48)]
    lines.clear()
    log(ProgressEvent("sample", 1, 6, step=1, steps=6))  # a new stage is written at once
    log(ProgressEvent("sample", 2, 6, step=2, steps=6))
    log(ProgressEvent("sample", 6, 6, step=6, steps=6))
    log(ProgressEvent("sample", 6, 6, step=6, steps=6))  # the end is written once
    log(ProgressEvent("sample", 1, 6, step=1, steps=6))  # the same stage again (the next seed)
    assert lines == ["sample step 1/6", "sample step 6/6", "sample step 1/6"]


def test_interleaved_stages_each_get_their_lines_and_share_the_interval():
    lines, clock = [], Clock()
    log = ProgressLog(lines.append, interval_s=5.0, clock=clock)
    for done in range(1, 17):  # a frame read, then tracked, one pair every second
        log(ProgressEvent("read", done, 16, frame=1000 + done, eta_s=16.0 - done))
        log(ProgressEvent("track", done, 16, frame=1000 + done))
        clock.now += 1.0
    assert lines == ["read frame 1/16", "track frame 1/16",  # each stage's start, without an eta yet
                     "read frame 6/16 eta 10s", "read frame 11/16 eta 5s",  # one line every 5 s in all
                     "read frame 16/16", "track frame 16/16"]  # and each stage's end


def test_progress_bar_off_a_terminal_prints_plain_lines_not_bars():
    stream, clock = io.StringIO(), Clock()
    with ProgressBar(stream=stream, clock=clock) as bar:
        assert not bar.interactive
        for done in range(1, 4):
            bar.update(encode(done, total=3, eta_s=1.0))
        bar.write("encoded")
        bar.update(ProgressEvent("decode", 1, 1, frame=0))
    assert stream.getvalue() == "encode frame 1/3\nencode frame 3/3\nencoded\ndecode frame 1/1\n"


def test_progress_bar_on_a_terminal_draws_tqdm_bars():
    stream = Terminal()
    with ProgressBar(stream=stream) as bar:
        assert bar.interactive
        bar.update(encode(12))
    assert "\r" in stream.getvalue() and "12/48" in stream.getvalue() and "it/s" in stream.getvalue()


def test_a_disabled_progress_bar_prints_nothing():
    stream = io.StringIO()
    with ProgressBar(enabled=False, stream=stream) as bar:
        bar.update(encode(1))
    assert stream.getvalue() == ""


def test_farm_progress_lines_carry_the_same_plain_lines_as_status():
    lines, clock = [], Clock()
    progress = ProgressLines(lines.append, clock=clock)
    for done in (1, 2, 3):
        progress(ProgressEvent("read", done, 3, frame=1000 + done))
    progress(ProgressEvent("sample", 1, 2, step=1, steps=2))
    assert [line for line in lines if line.startswith("openjd_status:")] == [
        "openjd_status: read frame 1/3", "openjd_status: read frame 3/3", "openjd_status: sample step 1/2"]
    assert [line for line in lines if line.startswith("openjd_progress:")] == [
        "openjd_progress: %d" % percent for percent in (3, 6, 10, 37)]  # sample runs from 15% to 60%


def test_farm_progress_only_moves_forward_in_the_forms_each_farm_reads():
    """Issue 20: stages come round again for the next seed (and the interaction pass reports before
    sampling), which made openjd_progress run 85, 90, 10, 15 ...; now it never goes back, and every
    figure is also written as Deadline 10's `Progress: N%`."""
    lines, clock = [], Clock()
    progress = ProgressLines(lines.append, clock=clock)
    for stage, done, total in [("interaction", 1, 1), ("sample", 1, 2), ("sample", 2, 2), ("write", 1, 1),
                               ("sample", 1, 2), ("refine", 1, 1), ("write", 1, 1)]:
        progress(ProgressEvent(stage, done, total))
    figures = [int(line.split(":")[1]) for line in lines if line.startswith("openjd_progress:")]
    assert figures == sorted(set(figures)) and figures[-1] == 100
    assert [line for line in lines if line.startswith("Progress:")] == ["Progress: %d%%" % n for n in figures]
