"""What the farm adds to `actanywhere`: the `farm:` config section and the `farm` command group.

Named by setup.py's entry point `actanywhere.extensions` (engine/extensions.py); the engine never
imports the farm itself. Light: argparse and the settings dataclasses only.
"""
from ..engine.extensions import Extension
from .cli import add_farm_commands, run_farm_command
from .settings import FarmSettings

EXTENSION = Extension(
    name="farm",
    sections={"farm": FarmSettings},
    commands=("farm",),
    add_commands=add_farm_commands,
    run_command=run_farm_command,
)
