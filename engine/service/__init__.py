"""The engine service behind `actanywhere serve`: a ZeroMQ ROUTER front end (server), one process per
device that keeps models loaded (worker), the on-disk job journal, the path sandbox and CurveZMQ keys.
The protocol and the client are contract modules one level up (protocol.py, client.py)."""
