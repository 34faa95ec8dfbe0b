"""The engine: everything that touches the model, media and the ZeroMQ service.

Contract modules (shotspec, config, settings, schema, sequence, progress, errors, protocol and client)
import without torch, numpy, diffusers or OpenImageIO, because Nuke's Python has none of them.
"""
__version__ = "0.1.0"
