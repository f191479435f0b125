"""Output rows -> mask codes: the class-3 rule, no data; and the class tally of a run.

The card's class mapping and no data come from the upsampler (upsampling.py);
the codes are what post-steps (poststeps.py) refine and the writer stores.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..classes import MASK_CODES
from .cirrus import Class3Rule
from .upsampling import OutputRows, no_data


@dataclass
class CodeBlock:
    """Finished rows of mask codes on the output grid."""

    row0: int  # output-grid row of codes[0]
    codes: np.ndarray  # uint8 (rows, width): codes of inference/classes.py, NODATA wherever valid is False
    valid: np.ndarray  # bool (rows, width): the input had data here
    bands: dict[str, np.ndarray] = field(default_factory=dict)  # float32 rows of the bands post-steps read


class Coder:
    """The card's codes of the output rows, then class 3 by its rule."""

    def __init__(self, rule: Class3Rule | None, extra_names: list[str] | None = None):
        """extra_names: the names of OutputRows.extras, in order (the rule's bands, then the post-steps')."""
        self.rule = rule
        self.extra_names = list(extra_names) if extra_names is not None else list(rule.bands if rule else ())

    def __call__(self, rows: OutputRows) -> CodeBlock:
        extras = {name: rows.extras[i] for i, name in enumerate(self.extra_names)}
        codes = rows.codes
        if self.rule is not None:
            codes = self.rule.apply(codes, {name: extras[name] for name in self.rule.bands})
            no_data(codes, rows.valid)  # whatever the rule
        return CodeBlock(rows.row0, codes, rows.valid, extras)


class Tally:
    """Pixels per mask code over a whole run, for MaskResult.class_percentages."""

    def __init__(self) -> None:
        self.counts = dict.fromkeys(MASK_CODES, 0)
        self.valid_pixels = 0

    def add(self, block: CodeBlock) -> None:
        for code in MASK_CODES:  # a comparison per code costs a sixth of a bincount over 256 values
            self.counts[code] += int(np.count_nonzero(block.codes == code))
        self.valid_pixels += int(np.count_nonzero(block.valid))

    def percentages(self) -> dict[int, float]:
        """Code 1-4 -> percent of valid pixels."""
        if self.valid_pixels == 0:
            return {code: 0.0 for code in MASK_CODES}
        return {code: round(100.0 * self.counts[code] / self.valid_pixels, 4) for code in MASK_CODES}
