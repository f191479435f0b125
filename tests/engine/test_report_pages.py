"""The report toolkit: every report is a jinja2 template with autoescaping, and a QGIS without jinja2 gets a
message, not a traceback."""

from __future__ import annotations

import subprocess
import sys

from s2cloudmask.inference.report_pages import area, count, percent, render

from tests.sandbox_env import PACKAGE_ROOT

HIDE_JINJA = """
import importlib.abc, sys
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('jinja2', 'markupsafe'):
            raise ImportError(f'No module named {name!r} (hidden)')
sys.meta_path.insert(0, Hide())
sys.path.insert(0, sys.argv[1])
from s2cloudmask.inference.errors import DependencyError
from s2cloudmask.inference.report_pages import render
try:
    render('tables.html', attribution='x')
except DependencyError as exc:
    print(exc)
"""


def test_names_from_files_never_become_markup():
    page = render("finetune.html", model="<script>alert(1)</script>", base_model="b&b", patches=3,
                  patch_folder="/data/<x>", device="CPU", best_epoch=1, epochs_run=2,
                  views=[{"title": "Classes as labelled", "rows": [("<i>clear</i> F1", "50.0 %", "60.0 %")]}],
                  before=None, history=[], attribution="Contains modified Copernicus Sentinel data 2022")
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<i>clear</i>" not in page and "&lt;i&gt;clear&lt;/i&gt; F1" in page
    assert "b&amp;b" in page and "/data/&lt;x&gt;" in page
    assert "<title>&lt;script&gt;" in page  # the title block, escaped as well


def test_number_formats_are_those_of_every_report():
    assert percent(0.1234) == "12.3\u202f%" and percent(None) == "n/a" and percent(0.5, 0) == "50\u202f%"
    assert count(1234567) == "1\u202f234\u202f567"
    assert area(1234.5) == "1\u202f234.50\u202fkm²"


def test_without_jinja2_a_report_says_what_is_missing_and_how_to_add_it(tmp_path):
    done = subprocess.run([sys.executable, "-c", HIDE_JINJA, str(PACKAGE_ROOT)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "jinja2 does not import" in done.stdout and "-m pip install jinja2" in done.stdout, done.stdout
    assert "Traceback" not in done.stdout
