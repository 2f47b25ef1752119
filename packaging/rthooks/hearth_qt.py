"""Run-time hook: where the bundled Qt finds its plugins.

It replaces PyInstaller's own PySide6 hook, which does the same and then imports QtCore
in every process, to register a qt.conf that the PySide6 wheels already embed. Every
`hearth` command and every engine child process would pay about 0.15 s for a Qt they
never use; the window imports Qt itself when it opens.
"""

import os
import sys

_BUNDLE = getattr(sys, "_MEIPASS", os.path.dirname(sys.executable))
if sys.platform == "win32":
    _QT = os.path.join(_BUNDLE, "PySide6")
    # Qt's plugins find the Qt DLLs (and any OpenSSL collected next to them) on the PATH.
    os.environ["PATH"] = _BUNDLE + os.pathsep + os.environ.get("PATH", "")
else:
    _QT = os.path.join(_BUNDLE, "PySide6", "Qt")
os.environ["QT_PLUGIN_PATH"] = os.path.join(_QT, "plugins")
