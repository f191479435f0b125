"""Every requirement line evaluates the same with every pip users have, on every platform users have, and each
platform gets the pins that have wheels for it (the wheels are listed beside the pins).

A marker that compares `platform_release` (the kernel's free-form string) as a version made pip 24.1 to 25.x
raise InvalidVersion on every common Linux kernel and pip 26 answer False: the markers are evaluated here with
the newest `packaging` and with the `packaging` that pip 23, 24, 25 and 26 vendor, taken from their wheels
(downloaded once into the user's cache folder).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from s2cloudmask.packages import installer, requirements

from tests.sandbox_env import REPO, USER_CACHE

WHEELS = USER_CACHE / "s2cloudmask" / "marker-wheels"
# the newest packaging, and pip as Debian 12 (23.0.1), Debian 13 (25.1.1) and the other lines ship it
EVALUATORS = ("packaging==26.4", "pip==23.0.1", "pip==24.0", "pip==24.3.1", "pip==25.1.1", "pip==26.3")
# each group of pins is installed into one folder or environment
GROUPS = {
    "plugin": (requirements.REQUIREMENTS, requirements.IF_MISSING_REQUIREMENTS),
    "fine-tuning": (REPO / "resources" / "requirements-train.txt",),
    "test tools": (REPO / "requirements-dev.txt",),
}
# the marker variables every pip evaluates the same everywhere: never a free-form string compared as a version
SAFE_VARIABLES = {"python_version", "sys_platform", "platform_machine"}
VARIABLES = SAFE_VARIABLES | {
    "python_full_version", "os_name", "platform_release", "platform_system", "platform_version",
    "platform_python_implementation", "implementation_name", "implementation_version", "extra",
}


@dataclass(frozen=True)
class Platform:
    name: str
    sys_platform: str
    machine: str
    release: str  # platform.release(): a kernel's own string
    version: str  # platform.version()
    mac: tuple[int, ...] | None = None  # platform.mac_ver()


PLATFORMS = (
    Platform("Windows 10", "win32", "AMD64", "10", "10.0.19045"),
    Platform("Windows 11", "win32", "AMD64", "11", "10.0.26100"),
    Platform("macOS 13 Intel", "darwin", "x86_64", "22.6.0",
             "Darwin Kernel Version 22.6.0: Mon Feb 19 19:48:53 PST 2024; root:xnu-8796.141.3.704.6~1/RELEASE_X86_64",
             (13, 6, 9)),
    Platform("macOS 14 Intel", "darwin", "x86_64", "23.6.0",
             "Darwin Kernel Version 23.6.0: Mon Jul 29 21:13:00 PDT 2024; root:xnu-10063.141.2~1/RELEASE_X86_64",
             (14, 6, 1)),
    Platform("macOS 15 Intel", "darwin", "x86_64", "24.6.0",
             "Darwin Kernel Version 24.6.0: Mon Jul 14 11:30:29 PDT 2025; root:xnu-11417.140.69~1/RELEASE_X86_64",
             (15, 6)),
    Platform("macOS 13 Apple silicon", "darwin", "arm64", "22.6.0",
             "Darwin Kernel Version 22.6.0: Mon Feb 19 19:43:41 PST 2024; root:xnu-8796.141.3.704.6~1/RELEASE_ARM64_T6000",
             (13, 6, 9)),
    Platform("macOS 14 Apple silicon", "darwin", "arm64", "23.6.0",
             "Darwin Kernel Version 23.6.0: Mon Jul 29 21:14:30 PDT 2024; root:xnu-10063.141.2~1/RELEASE_ARM64_T6000",
             (14, 6, 1)),
    Platform("macOS 15 Apple silicon", "darwin", "arm64", "24.6.0",
             "Darwin Kernel Version 24.6.0: Mon Jul 14 11:30:40 PDT 2025; root:xnu-11417.140.69~1/RELEASE_ARM64_T6041",
             (15, 6)),
    Platform("Debian 12", "linux", "x86_64", "6.1.0-13-amd64", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.55-1 (2023-09-29)"),
    Platform("Debian 13", "linux", "x86_64", "6.12.41+deb13-amd64",
             "#1 SMP PREEMPT_DYNAMIC Debian 6.12.41-1 (2025-08-12)"),
    Platform("Ubuntu 24.04", "linux", "x86_64", "6.8.0-45-generic",
             "#45-Ubuntu SMP PREEMPT_DYNAMIC Fri Aug 30 12:02:04 UTC 2024"),
    Platform("Fedora 41", "linux", "x86_64", "6.11.4-301.fc41.x86_64",
             "#1 SMP PREEMPT_DYNAMIC Sun Oct 20 15:02:33 UTC 2024"),
    Platform("Arch Linux", "linux", "x86_64", "6.18.4-arch1-1", "#1 SMP PREEMPT_DYNAMIC Fri, 09 Jan 2026 10:15:06 +0000"),
    Platform("WSL 2", "linux", "x86_64", "5.15.153.1-microsoft-standard-WSL2", "#1 SMP Fri Mar 29 23:14:13 UTC 2024"),
    Platform("Raspberry Pi OS (Debian 12, arm64)", "linux", "aarch64", "6.6.51+rpt-rpi-2712",
             "#1 SMP PREEMPT Debian 1:6.6.51-1+rpt3 (2024-10-08)"),
)
PYTHONS = ("3.11.2", "3.12.10", "3.13.5", "3.14.0")  # 3.10 is refused by the installer (see below)

# What each platform gets: onnxruntime always; rasterio where QGIS's Python has none (its block of
# requirements-if-missing.txt). Every other pin is the same everywhere.
EXPECTED = {
    "Windows 10": ("1.32.0", "1.4.4"),
    "Windows 11": ("1.32.0", "1.4.4"),
    "macOS 13 Intel": ("1.23.2", "1.4.3"),
    "macOS 14 Intel": ("1.23.2", "1.4.3"),
    "macOS 15 Intel": ("1.23.2", "1.4.4"),
    "macOS 13 Apple silicon": ("1.23.2", "1.4.1"),
    "macOS 14 Apple silicon": ("1.32.0", "1.4.4"),
    "macOS 15 Apple silicon": ("1.32.0", "1.4.4"),
    "Debian 12": ("1.32.0", "1.4.4"),
    "Debian 13": ("1.32.0", "1.4.4"),
    "Ubuntu 24.04": ("1.32.0", "1.4.4"),
    "Fedora 41": ("1.32.0", "1.4.4"),
    "Arch Linux": ("1.32.0", "1.4.4"),
    "WSL 2": ("1.32.0", "1.4.4"),
    "Raspberry Pi OS (Debian 12, arm64)": ("1.32.0", "1.4.4"),
}

EVALUATE = """
import json, sys
if sys.argv[1] == "pip":
    from pip._vendor.packaging.requirements import Requirement
else:
    from packaging.requirements import Requirement
answers = {}
for case, (environment, lines) in json.load(sys.stdin).items():
    try:
        answers[case] = [line for line in lines
                         if Requirement(line).marker is None or Requirement(line).marker.evaluate(environment)]
    except Exception as error:
        answers[case] = f"{type(error).__name__}: {error}"
print(json.dumps(answers))
"""


def marker_environment(platform: Platform, python: str) -> dict[str, str]:
    """The PEP 508 environment as Python on that platform reports it."""
    return {
        "implementation_name": "cpython", "implementation_version": python, "os_name":
        "nt" if platform.sys_platform == "win32" else "posix", "platform_machine": platform.machine,
        "platform_python_implementation": "CPython", "platform_release": platform.release,
        "platform_system": {"win32": "Windows", "darwin": "Darwin", "linux": "Linux"}[platform.sys_platform],
        "platform_version": platform.version, "python_full_version": python,
        "python_version": ".".join(python.split(".")[:2]), "sys_platform": platform.sys_platform,
    }


def group_lines(group: str, platform: Platform) -> list[str]:
    """Every line of a group that may reach pip on that platform; for the plugin, every block of
    requirements-if-missing.txt (as where QGIS lacks them all) and the pins for older Macs put in as the
    installer puts them in."""
    lines = [line for path in GROUPS[group] for line in requirements.requirement_lines(path)]
    if group != "plugin":
        return lines
    return requirements.for_this_mac(lines, requirements.older_macos_pins(), platform.mac, platform.machine)


def expected_pins(group: str, platform: Platform) -> dict[str, str]:
    lines = [line for path in GROUPS[group] for line in requirements.requirement_lines(path)]
    everywhere = dict(pin(line) for line in lines if ";" not in line)
    if group != "plugin":
        return everywhere
    onnxruntime, rasterio = EXPECTED[platform.name]
    return {**everywhere, "onnxruntime": onnxruntime, "rasterio": rasterio}


def case(group: str, platform: Platform, python: str) -> str:
    return f"{group} pins on {platform.name}, Python {python}"


def pin(line: str) -> tuple[str, str]:
    name, version = line.split(";")[0].strip().split("==")
    return name.strip(), version.strip()


def wheel(requirement: str) -> Path:
    """The wheel of `requirement` in the cache folder, downloaded once."""
    name, version = requirement.split("==")
    found = sorted(WHEELS.glob(f"{name}-{version}-*.whl"))
    if not found:
        WHEELS.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                        "--disable-pip-version-check", "--dest", str(WHEELS), requirement], check=True, timeout=600)
        found = sorted(WHEELS.glob(f"{name}-{version}-*.whl"))
    return found[0]


@pytest.fixture(scope="module")
def selections() -> dict[str, dict[str, list[str] | str]]:
    """For each evaluator: the lines each platform and Python selects (or the error it raised)."""
    cases = {case(group, platform, python): (marker_environment(platform, python), group_lines(group, platform))
             for group in GROUPS for platform in PLATFORMS for python in PYTHONS}
    answers = {}
    for requirement in EVALUATORS:
        env = dict(os.environ, PYTHONPATH=str(wheel(requirement)))
        done = subprocess.run([sys.executable, "-c", EVALUATE, requirement.split("==")[0]], input=json.dumps(cases),
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        answers[requirement] = json.loads(done.stdout)
    return answers


def test_markers_use_only_variables_every_pip_evaluates():
    for path in (*[path for paths in GROUPS.values() for path in paths], requirements.OLDER_MACOS_PINS):
        for line in requirements.requirement_lines(path):
            marker = line.split(";", 1)[1] if ";" in line else ""
            used = set(re.findall(r"\b[a-z_]+\b", marker)) & VARIABLES
            assert used <= SAFE_VARIABLES, f"{path.name}: {line!r} uses {sorted(used - SAFE_VARIABLES)}"


@pytest.mark.parametrize("evaluator", EVALUATORS)
def test_every_pip_gives_each_platform_the_pins_that_have_wheels_for_it(selections, evaluator):
    for group in GROUPS:
        for platform in PLATFORMS:
            for python in PYTHONS:
                selected = selections[evaluator][case(group, platform, python)]
                assert isinstance(selected, list), f"{evaluator}, {case(group, platform, python)}: {selected}"
                pins = [pin(line) for line in selected]
                assert len(pins) == len(dict(pins)), f"{case(group, platform, python)}: a package pinned twice"
                assert dict(pins) == expected_pins(group, platform), f"{evaluator}, {case(group, platform, python)}"


def test_every_platform_of_the_table_is_checked():
    assert set(EXPECTED) == {platform.name for platform in PLATFORMS}


def test_installer_takes_the_macos_release_from_platform_mac_ver(monkeypatch):
    monkeypatch.setattr(installer.platform, "mac_ver", lambda: ("13.6.9", ("", "", ""), "arm64"))
    assert installer.mac_release() == (13, 6, 9)
    monkeypatch.setattr(installer.platform, "mac_ver", lambda: ("", ("", "", ""), ""))
    assert installer.mac_release() is None


def test_a_python_older_than_the_pins_need_is_refused_with_what_to_do():
    with pytest.raises(SystemExit, match=r"Python 3\.10 is too old .* Python 3\.11 or newer"):
        installer.check_python((3, 10, 12))
    installer.check_python((3, 11, 2))
