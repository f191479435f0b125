"""The pin files and how their lines are read: one reader for every requirements file of the plugin."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from . import PLUGIN_DIR

REQUIREMENTS = PLUGIN_DIR / "resources" / "requirements.txt"
IF_MISSING_REQUIREMENTS = PLUGIN_DIR / "resources" / "requirements-if-missing.txt"  # where QGIS lacks them
OLDER_MACOS_PINS = PLUGIN_DIR / "resources" / "requirements-older-macos.txt"  # where a wheel needs a newer macOS
PIN_FILES = (REQUIREMENTS, IF_MISSING_REQUIREMENTS, OLDER_MACOS_PINS)  # what the installer may install
TRAINING_REQUIREMENTS = PLUGIN_DIR / "resources" / "requirements-train.txt"  # the fine-tuning environment's

# distribution names whose import name differs from the name with "-" as "_"
IMPORT_NAMES: dict[str, str] = {"attrs": "attr", "click-plugins": "click_plugins", "pystac-core": "pystac",
                                 "python-dateutil": "dateutil"}


def requirement_lines(path: Path = REQUIREMENTS) -> list[str]:
    """The requirement lines of a pin file, comments and blank lines left out."""
    return [line for block in requirement_blocks(path) for line in block]


def requirement_blocks(path: Path) -> list[list[str]]:
    """The requirement lines of a pin file in blocks: a comment line or a blank line ends a block."""
    blocks: list[list[str]] = [[]]
    for line in path.read_text(encoding="utf-8").splitlines():
        pin = line.split("#", 1)[0].strip()
        if pin:
            blocks[-1].append(pin)
        elif blocks[-1]:
            blocks.append([])
    return [block for block in blocks if block]


@dataclass(frozen=True)
class OlderMacPin:
    """A pin for Macs below a macOS release on one machine (a line of requirements-older-macos.txt)."""

    below: tuple[int, ...]
    machine: str
    pin: str


def older_macos_pins(path: Path = OLDER_MACOS_PINS) -> list[OlderMacPin]:
    rows = []
    for line in requirement_lines(path):
        release, machine, pin = line.split(maxsplit=2)
        rows.append(OlderMacPin(release_tuple(release), machine, pin))
    return rows


def release_tuple(release: str) -> tuple[int, ...]:
    return tuple(int(part) for part in release.split("."))


def for_this_mac(lines: list[str], rows: list[OlderMacPin], release: tuple[int, ...] | None,
                 machine: str) -> list[str]:
    """The pins with those a Mac of this release and machine has no wheel for replaced (a no-op off macOS)."""
    if release is None:
        return list(lines)
    chosen = list(lines)
    for row in rows:
        name = distribution_name(row.pin)
        if row.machine == machine and release < row.below and any(distribution_name(line) == name for line in chosen):
            chosen = [line for line in chosen if distribution_name(line) != name] + [row.pin]
    return chosen


def distribution_name(line: str) -> str:
    return re.split(r"[=<>!~;\[ ]", line, maxsplit=1)[0].strip()


def import_name(distribution: str) -> str:
    return IMPORT_NAMES.get(distribution, distribution.replace("-", "_"))
