"""The plate's camera: tracking its 2D motion (tracker.py), the track as data (track.py) and the
condition image warped into each frame by it (condition_warp.py). docs/camera.md explains the whole."""
