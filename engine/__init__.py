"""The engine: everything that touches the model, media and the ZeroMQ service.

Contract modules (shotspec, config, sequence, progress, and later protocol and client) import
without torch, diffusers or OpenImageIO, because Nuke's Python has none of them.
"""
__version__ = "0.1.0"
