"""The README's fine-tuning picture: a model's validation report (base vs fine-tuned on the test split).

    xvfb-run -a -s "-screen 0 1366x768x24" env QT_QPA_PLATFORM=xcb /usr/bin/python3 tools/finetune_screenshots.py \
        MODEL.validation.html

writes docs/images/finetune-report.png, rendered by QtWebKit as QGIS's own HTML views render it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools.screenshots import REPO, report_png, sandbox  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", help="a model's .validation.html")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    args = parser.parse_args()
    sandbox()
    from qgis.core import QgsApplication

    app = QgsApplication([], True)
    app.initQgis()
    args.out.mkdir(parents=True, exist_ok=True)
    report_png(app, str(Path(args.report).resolve()), args.out / "finetune-report.png")
    print(args.out / "finetune-report.png")


if __name__ == "__main__":
    main()
