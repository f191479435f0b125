"""Output rows -> mask codes: the card's class mapping, the class-3 rule, no data.

The codes are what post-steps (poststeps.py) refine and the writer stores.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..classes import MASK_CODES, NODATA
from .cirrus import Class3Rule
from .upsampling import OutputRows


@dataclass
class CodeBlock:
    """Finished rows of mask codes on the output grid."""

    row0: int  # output-grid row of codes[0]
    codes: np.ndarray  # uint8 (rows, width): codes of inference/classes.py, NODATA wherever valid is False
    valid: np.ndarray  # bool (rows, width): the input had data here
    bands: dict[str, np.ndarray] = field(default_factory=dict)  # float32 rows of the bands post-steps read


class Coder:
    """The most probable model class -> mask code (through the card), then class 3 by its rule."""

    def __init__(self, class_codes: list[int], rule: Class3Rule | None, extra_names: list[str] | None = None):
        """extra_names: the names of OutputRows.extras, in order (the rule's bands, then the post-steps')."""
        self.lut = np.asarray(class_codes, dtype=np.uint8)
        self.rule = rule
        self.extra_names = list(extra_names) if extra_names is not None else list(rule.bands if rule else ())

    def __call__(self, rows: OutputRows) -> CodeBlock:
        extras = {name: rows.extras[i] for i, name in enumerate(self.extra_names)}
        codes = self.lut[rows.index]
        if self.rule is not None:
            codes = self.rule.apply(codes, {name: extras[name] for name in self.rule.bands})
        codes[~rows.valid] = NODATA
        return CodeBlock(rows.row0, codes, rows.valid, extras)


class Tally:
    """Pixels per code over a whole run, for MaskResult.class_percentages."""

    def __init__(self) -> None:
        self.counts = np.zeros(256, dtype=np.int64)
        self.valid_pixels = 0

    def add(self, block: CodeBlock) -> None:
        self.counts += np.bincount(block.codes.ravel(), minlength=256)
        self.valid_pixels += int(block.valid.sum())

    def percentages(self) -> dict[int, float]:
        """Code 1-4 -> percent of valid pixels."""
        if self.valid_pixels == 0:
            return {code: 0.0 for code in MASK_CODES}
        return {code: round(100.0 * float(self.counts[code]) / self.valid_pixels, 4) for code in MASK_CODES}
