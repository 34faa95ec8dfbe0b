"""One source tree, with the repo's top-level folders installed under one namespace, built as one of two
distributions.

The repository keeps the layout the user asked for (engine/, plugin/, farm/, config/ at the top), but
nothing generic such as `engine` may land in site-packages, so each folder is mapped into the
`actanywhere` namespace package: engine/ -> actanywhere.engine, and so on.

The distribution is chosen by the environment variable ACTANYWHERE_DIST (pyproject.toml names the
PEP 517 backend; setuptools reads this file for everything else):

    python -m pip install --editable .                             actanywhere: everything (the default)
    ACTANYWHERE_DIST=nuke python -m pip wheel --no-deps -w dist .   actanywhere-nuke, for Nuke's Python

`actanywhere-nuke` has the same `actanywhere.*` packages and the same two dependencies, but no model
weights, no demo data, no console script and no extras: what a TD installs into Nuke 13-16 (Python 3.7 to
3.11) with `pip install --target` (docs/nuke.md). Why an environment variable: PEP 517 builds one
distribution per source tree, and the alternatives are worse. A second project folder cannot map ../engine
(setuptools takes package folders inside the project only); `--config-settings` reach setuptools'
setup.py differently across pip and setuptools versions; an environment variable crosses pip's isolated
build unchanged, with any frontend, and keeps the namespace mapping and both file lists in this one file.
"""
import os

from setuptools import setup

FOLDERS = {"engine": "engine", "plugin": "plugin", "farm": "farm", "config": "config"}
DISTRIBUTIONS = ("full", "nuke")
DIST = os.environ.get("ACTANYWHERE_DIST", "").strip() or "full"
if DIST not in DISTRIBUTIONS:
    raise SystemExit("ACTANYWHERE_DIST=%s: expected one of %s (empty: full)" % (DIST, ", ".join(DISTRIBUTIONS)))

# Data of the engine's own: the tiny weights (about 10 MB) and the demo shot. Not for Nuke.
HEAVY_DATA = ["model/weights/**/*", "demo/**/*"]


def _packages():
    packages = []
    for folder in FOLDERS.values():
        for root, dirs, files in os.walk(folder):
            dirs[:] = [d for d in dirs if not d.startswith((".", "__"))]
            if "__init__.py" in files:
                packages.append("actanywhere." + root.replace(os.sep, "."))
    return packages


common = dict(
    version="0.1.0",
    python_requires=">=3.7",
    packages=_packages(),
    package_dir={"actanywhere." + name: folder for name, folder in FOLDERS.items()},
    include_package_data=True,
    # The contract (shot spec, config, client) needs only these, so it runs in Nuke's Python.
    install_requires=["PyYAML>=5.1", "pyzmq>=22"],
    # Each distribution builds in its own folder: setuptools copies whatever lies in build/lib into the
    # wheel, so a light wheel built after a full one in the same tree would otherwise carry the weights.
    options={"build": {"build_base": os.path.join("build", DIST)}},
)
# Packages that add config sections and commands (engine/extensions.py): the engine names none.
EXTENSIONS = ["farm = actanywhere.farm.extension:EXTENSION"]


def _package_data(heavy):
    return {
        "actanywhere.config": ["*.yaml"],
        "actanywhere.plugin": ["nuke_path/*.py"],  # the folder a TD puts on NUKE_PATH (docs/nuke.md)
        "actanywhere.engine": ["model/configs/*/*.json"] + (HEAVY_DATA if heavy else []),
    }


if DIST == "nuke":
    setup(
        name="actanywhere-nuke",
        description="ActAnywhere's Nuke plugin and engine contract, without model weights or demo data",
        package_data=_package_data(heavy=False),
        # Also what include_package_data might find (a setuptools-scm in the build environment lists
        # every tracked file); fnmatch's * crosses folders here.
        exclude_package_data={"actanywhere.engine": ["model/weights/*", "demo/*", "*.safetensors"]},
        entry_points={"actanywhere.extensions": EXTENSIONS},
        **common
    )
else:
    setup(
        name="actanywhere",
        description="Subject-aware video background generation (ActAnywhere) for Nuke and render farms",
        package_data=_package_data(heavy=True),
        extras_require={
            "engine": [
                "torch==2.13.0",
                "diffusers==0.42.1",
                "transformers==5.23.0",
                "accelerate==1.15.0",
                "safetensors==0.8.0",
                "OpenImageIO==3.2.2.0",
                "opentimelineio==0.18.1",
                "opencv-python-headless==5.1.0.95",  # camera tracking and warping (engine/camera)
                "ftfy==6.3.1",  # diffusers' Wan pipelines clean prompts with it (the wan-vace profile)
                "numpy",
                "tqdm",
                "Pillow",
            ],
            # Farm backends (docs/farm.md): OpenJD templates are checked and run locally with openjd-cli.
            "farm": ["openjd-cli==0.8.0", "openjd-model==0.13.0", "openjd-sessions==0.13.0"],
            # pyoutline installs generic top-level modules (bin, wrappers): only where OpenCue is used.
            "opencue": ["opencue-pyoutline==1.37.0", "opencue-pycue==1.37.0"],
        },
        entry_points={
            "console_scripts": ["actanywhere=actanywhere.engine.cli:main"],
            "actanywhere.extensions": EXTENSIONS,
        },
        **common
    )
