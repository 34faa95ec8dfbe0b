"""One distribution, `actanywhere`, with the repo's top-level folders installed under one namespace.

The repository keeps the layout the user asked for (engine/, plugin/, farm/, config/ at the top), but
nothing generic such as `engine` may land in site-packages, so each folder is mapped into the
`actanywhere` namespace package: engine/ -> actanywhere.engine, and so on.
"""
from setuptools import setup

FOLDERS = {"engine": "engine", "plugin": "plugin", "farm": "farm", "config": "config"}


def _packages():
    import os

    packages = []
    for folder in FOLDERS.values():
        for root, dirs, files in os.walk(folder):
            dirs[:] = [d for d in dirs if not d.startswith((".", "__"))]
            if "__init__.py" in files:
                packages.append("actanywhere." + root.replace(os.sep, "."))
    return packages


setup(
    name="actanywhere",
    version="0.1.0",
    description="Subject-aware video background generation (ActAnywhere) for Nuke and render farms",
    python_requires=">=3.7",
    packages=_packages(),
    package_dir={"actanywhere." + name: folder for name, folder in FOLDERS.items()},
    package_data={
        "actanywhere.config": ["*.yaml"],
        "actanywhere.plugin": ["nuke_path/*.py"],  # the folder a TD puts on NUKE_PATH (docs/nuke.md)
        "actanywhere.engine": ["model/configs/*/*.json", "model/weights/**/*", "demo/**/*"],
    },
    include_package_data=True,
    # The contract (shot spec, config, client) needs only these, so it runs in Nuke's Python.
    install_requires=["PyYAML>=5.1", "pyzmq>=22"],
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
        # Packages that add config sections and commands (engine/extensions.py): the engine names none.
        "actanywhere.extensions": ["farm = actanywhere.farm.extension:EXTENSION"],
    },
)
