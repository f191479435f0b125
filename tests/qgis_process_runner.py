"""Running qgis_process as a server script runs it.

Debian's /usr/bin/qgis_process wrapper adds --noversioncheck, which the binary
rejects, so the binary is called directly.
"""

from __future__ import annotations

import shutil
import subprocess

QGIS_PROCESS = shutil.which("qgis_process.bin") or "/usr/bin/qgis_process.bin"


def qgis_process(env: dict[str, str], *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([QGIS_PROCESS, *args], env=env, capture_output=True, text=True, timeout=timeout,
                          cwd=env["HOME"])
