"""One way to write the plugin's HTML reports: jinja2 templates in resources/reports/, autoescaping on.

Every report (the comparison with SCL or another mask, the validation against
a reference, the fine-tuning run's test split) is a template there, filled
from the figures its JSON holds, with the number formats below as filters.
Autoescaping is on for every template, so a file name or a model name never
becomes markup.

jinja2 comes with QGIS rather than with the plugin's own packages: Debian's
python3-qgis depends on python3-jinja2, and QGIS's own MetaSearch plugin
imports jinja2 when it loads, so the bundles that ship MetaSearch (the OSGeo4W
and standalone Windows installers, QGIS.app on macOS) carry it as well. It is
imported when a report is written, never when the plugin loads, so a QGIS
without it still loads the plugin, and a report then fails with a
DependencyError that says what is missing and how to add it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..packages.installer import python_executable
from .about import REPORT_TEMPLATE_DIR
from .errors import DependencyError
from .outputs import atomic_output

NARROW_SPACE = "\u202f"


def percent(value: float | None, digits: int = 1) -> str:
    """A fraction as a percentage: 0.5 -> "50.0 %"; None -> "n/a"."""
    return "n/a" if value is None else f"{100.0 * value:.{digits}f}{NARROW_SPACE}%"


def number(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def count(value: int) -> str:
    """Thousands apart by a narrow space: 1 234 567."""
    return f"{value:,}".replace(",", NARROW_SPACE)


def area(km2: float) -> str:
    return f"{km2:,.2f}".replace(",", NARROW_SPACE) + f"{NARROW_SPACE}km²"


FILTERS = {"percent": percent, "number": number, "count": count, "area": area}


@lru_cache(maxsize=1)
def _environment() -> Any:
    try:
        import jinja2  # from QGIS, not from the plugin's packages (see the module's text)
    except ImportError as exc:
        raise DependencyError(
            f"The Python package jinja2 does not import ({exc}), so no HTML report can be written. QGIS normally "
            f"ships it (its MetaSearch plugin needs it); reinstall QGIS, or add it to QGIS's Python with: "
            f"{python_executable()} -m pip install jinja2"
        ) from None
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(REPORT_TEMPLATE_DIR)), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )
    environment.filters.update(FILTERS)
    return environment


def render(template: str, **context: Any) -> str:
    """The page of `template` (a file in resources/reports/) filled with `context`, every value escaped."""
    return _environment().get_template(template).render(**context)


def json_text(document: Any) -> str:
    """The JSON every report writes beside its page: indented, non-ASCII kept as it is."""
    return json.dumps(document, indent=2, ensure_ascii=False)


def write_page_and_json(html_path: Path, page: str, json_path: Path, document: Any) -> None:
    """The HTML page and the JSON of the same figures, each moved into place only when complete."""
    with atomic_output(json_path) as json_temporary, atomic_output(html_path) as html_temporary:
        json_temporary.write_text(json_text(document), encoding="utf-8")
        html_temporary.write_text(page, encoding="utf-8")
