"""Count shot spec resolutions in this process and in every process it starts (engines, their workers,
farm tasks): each call of shotspec.resolve and shotspec.from_resolved appends a line to one file.

Subprocesses load the counter through a sitecustomize.py put first on their PYTHONPATH, so no
production code carries a test hook."""
import os
import textwrap

SITECUSTOMIZE = textwrap.dedent('''
    import os
    from actanywhere.engine import shotspec

    def _counted(name, function):
        def counted(*args, **kwargs):
            with open(os.environ["ACTANYWHERE_TEST_RESOLUTIONS"], "a") as stream:
                stream.write("%s %d\\n" % (name, os.getpid()))
            return function(*args, **kwargs)
        counted.counted = True
        return counted

    for _name in ("resolve", "from_resolved"):
        if not getattr(getattr(shotspec, _name), "counted", False):
            setattr(shotspec, _name, _counted(_name, getattr(shotspec, _name)))
''')


def count_everywhere(tmp_path, monkeypatch):
    """Start counting here and in every subprocess started from now on; returns the reader."""
    folder = tmp_path / "resolution_counter"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    tally = folder / "calls.txt"
    tally.write_text("")
    monkeypatch.setenv("ACTANYWHERE_TEST_RESOLUTIONS", str(tally))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")])))
    from actanywhere.engine import shotspec

    originals = {name: getattr(shotspec, name) for name in ("resolve", "from_resolved")}
    exec(SITECUSTOMIZE, {})  # this process: the same wrappers, put back by monkeypatch at the end
    for name, original in originals.items():
        counted = getattr(shotspec, name)
        setattr(shotspec, name, original)
        monkeypatch.setattr(shotspec, name, counted)

    def calls():
        lines = [line.split() for line in tally.read_text().splitlines()]
        return {"resolve": sum(1 for name, _ in lines if name == "resolve"),
                "from_resolved": sum(1 for name, _ in lines if name == "from_resolved"),
                "processes": len({pid for _, pid in lines})}
    return calls
