# ActAnywhere for Nuke: menu.py (GUI sessions only). A failing import prints its traceback and Nuke
# starts anyway, without the ActAnywhere menu; docs/nuke.md "Troubleshooting" says what to check.
import sys
import traceback

try:
    from actanywhere.plugin import nuke_adapter as _actanywhere

    _actanywhere.install_menu()
except Exception:
    traceback.print_exc()
    sys.stderr.write("ActAnywhere: the menu was not installed (see the traceback above and docs/nuke.md, "
                     "Troubleshooting); Nuke starts without it.\n")
