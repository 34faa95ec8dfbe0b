"""Publishes one version the way generate does, for tests/test_publish_faults.py, and dies (os._exit,
as abrupt as SIGKILL: no cleanup, no finally) just before file operation number --die-at of the
publish; --list prints the operations instead.

    python publish_faults.py TEMPLATE KEY SEED (--list | --die-at N)
"""
import os
import sys

import numpy as np

from actanywhere.engine import outputs
from actanywhere.engine.media import VersionedOutput

FRAMES = (1001, 1002, 1003)
PASSES = ("bg", "comp")


def publish(template: str, key: str, seed: int) -> outputs.PublishedVersion:
    """Exactly once per key and seed, as generate_shot does it: the key's version if it has one, else a new one."""
    parsed = outputs.OutputTemplate.parse(template)
    existing = outputs.published_by(parsed, "sh010", key, seed)
    if existing is not None:
        return existing
    with VersionedOutput(template, frames=FRAMES, shot="sh010", passes=PASSES, seed=seed,
                         record={"task_id": key, "spec_hash": "f00d"}) as out:
        for pass_name in PASSES:
            for frame in FRAMES:
                out.write_frame(pass_name, frame, np.full((4, 6, 3), frame + seed, np.float32), "RGB")
    return out.record


def main(argv):
    template, key, seed, mode = argv[0], argv[1], int(argv[2]), argv[3]
    steps = []

    def point(step):
        steps.append(step)
        if mode == "--die-at" and len(steps) == int(argv[4]):
            os._exit(137)

    outputs.fault_point = point
    record = publish(template, key, seed)
    if mode == "--list":
        print("\n".join(steps))
    print("published %s" % record.version_name)


if __name__ == "__main__":
    main(sys.argv[1:])
