"""The Nuke plugin of ActAnywhere: the node, its panel and the farm button (docs/nuke.md)."""
from ..engine import extensions

# Nuke 13's Python 3.7 reads no entry points (engine/extensions.py), and the panel's farm button reads
# the config's farm section: register it here, whatever the Python. An install without the farm package
# has no farm button to serve (plugin/farm_submit.py says so when pressed).
try:
    from ..farm.extension import EXTENSION as _FARM_EXTENSION
except ImportError:
    pass
else:
    extensions.register(_FARM_EXTENSION)
