"""PySide6 (Nuke 16) or PySide2 (Nuke 13-15), whichever this Nuke has. Imported only when a Qt call
is made, so nothing breaks in `nuke -t`."""
from __future__ import annotations


def qt_modules():
    """(QtCore, QtGui, QtWidgets)."""
    try:
        from PySide6 import QtCore, QtGui, QtWidgets  # Nuke 16
    except ImportError:
        from PySide2 import QtCore, QtGui, QtWidgets  # Nuke 13-15
    return QtCore, QtGui, QtWidgets


def copy_to_clipboard(text: str) -> None:
    _, QtGui, _ = qt_modules()
    QtGui.QGuiApplication.clipboard().setText(text)
