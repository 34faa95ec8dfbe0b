"""The backends: thin translators of one FarmJob into each farm's own job files.

Each module offers `write_job(job, out_dir, worker_job_dir, farm_settings) -> [files]` (pure: the files
depend only on the job and the settings) and `submit(out_dir, farm_settings) -> farm job id`, which runs
the farm's own client. The local backend runs the job instead.
"""
BACKENDS = ("local", "openjd", "opencue", "deadline10")  # the one list: settings choices, CLI, Nuke knob


def module(name: str):
    """The backend module for `name` (imported lazily: pyoutline is an optional extra)."""
    from importlib import import_module

    if name not in BACKENDS:
        from ..job import FarmError

        raise FarmError("farm backend %r is not one of %s" % (name, ", ".join(BACKENDS)))
    return import_module("%s.%s" % (__name__, name))
