"""Text and widgets for a docked panel about 300 px wide: nothing in it may ask for more width than that.

QGIS gives a docked panel the width its widest child asks for, and keeps it:
one label holding an unbroken product id once made the dock 520 px wide for the
rest of the session. So labels wrap, long paths and ids may break at their
separators, and neither labels nor combo boxes ask for the width of their text.
"""

from __future__ import annotations

import re

from qgis.PyQt.QtWidgets import QComboBox, QLabel, QSizePolicy

ZERO_WIDTH_SPACE = "\u200b"
PATH_SEPARATORS = re.compile(r"([/\\_])")
# Runs of this many characters without a break opportunity get one (hashes, ids without separators).
LONGEST_RUN = 24
UNBROKEN_RUN = re.compile(rf"[^\s/\\_\u200b-]{{{LONGEST_RUN}}}(?=[^\s/\\_\u200b-])")


def breakable(text: str) -> str:
    """Plain text whose long paths and product ids may wrap after / \\ and _, so they never widen the panel."""
    return UNBROKEN_RUN.sub(lambda run: run.group(0) + ZERO_WIDTH_SPACE, PATH_SEPARATORS.sub(r"\1" + ZERO_WIDTH_SPACE, text))


def unbroken(text: str) -> str:
    """The text as written, without the break opportunities breakable() added (for copying and comparing)."""
    return text.replace(ZERO_WIDTH_SPACE, "")


def keep_narrow(label: QLabel) -> QLabel:
    """A label that wraps and takes the width the panel gives it, never the width of its longest word."""
    policy = QSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    policy.setHeightForWidth(True)  # its height still follows its width: wrapped lines are all shown
    label.setSizePolicy(policy)
    label.setWordWrap(True)
    return label


def wrapping_label(text: str = "", name: str = "") -> QLabel:
    """A new keep_narrow() label with plain `text`, breakable at its separators."""
    label = keep_narrow(QLabel(breakable(text)))
    if name:
        label.setObjectName(name)
    return label


def narrow(combo: QComboBox) -> QComboBox:
    """A combo box that may shrink below its longest entry (the popup still shows it whole): the panel stays narrow."""
    combo.setSizePolicy(QSizePolicy.Policy.Ignored, combo.sizePolicy().verticalPolicy())
    combo.setMinimumWidth(combo.fontMetrics().horizontalAdvance("x" * 8))
    return combo
