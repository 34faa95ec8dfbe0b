"""`python -m actanywhere.engine.training CONFIG`, what `accelerate launch -m` and torchrun run."""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    from actanywhere.engine.errors import ActAnywhereError

    parser = argparse.ArgumentParser(prog="python -m actanywhere.engine.training",
                                     description="Train an ActAnywhere model (docs/training.md).")
    parser.add_argument("config", help="training config (YAML)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    arguments = parser.parse_args(argv)
    from actanywhere.engine.progress_bar import ProgressBar
    from actanywhere.engine.training.trainer import run_training

    try:
        with ProgressBar(enabled=not arguments.quiet) as bar:
            result = run_training(arguments.config, progress=bar.update, log=bar.write)
    except ActAnywhereError as error:
        print("error: %s" % error, file=sys.stderr)
        return error.exit_code
    if result.model_dir is not None:
        print(result.model_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
