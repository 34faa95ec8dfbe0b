"""The render-farm backend: one job model (shots x variants; export, generate, publish) translated into
Open Job Description, OpenCue, Deadline 10 job files, or run locally. See docs/farm.md.

Imported by the Nuke plugin, so this module stays light: the entry point loads the rest on use.
"""


def submit_shot(spec_data, export=None, backend=None):
    """Submit one shot spec (plain data) to the farm; returns {"job_id", "tasks": [{"task_id", "seed"}]}.
    `export`, when the inputs still have to be rendered from a Nuke script: {"script", "node", "frames",
    "command"}."""
    from .submit import submit_shot as _submit_shot

    return _submit_shot(spec_data, export=export, backend=backend)
