"""docs/architecture.md against the code: the drawing of the import graph (every part of the plugin drawn, every
import the code makes running down it, the basics it lists the engine's top-level modules), every algorithm the
provider registers in its table, and every module of every room in the rooms' table."""

from __future__ import annotations

import re

from import_graph import unit, unit_imports

from tests.sandbox_env import REPO

ARCHITECTURE = REPO / "docs" / "architecture.md"
HEADING = "## The import graph: every arrow points down"


def drawing() -> list[str]:
    """The lines of the first code block under the import graph's heading."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    assert HEADING in text, f"docs/architecture.md has no section '{HEADING}'"
    block = text.split(HEADING, 1)[1].split("```", 2)[1]
    return block.splitlines()


def label(part: str) -> str:
    """How the drawing names a part: `plugin` as plugin.py, `ui` as ui/, an engine room by its folder, the engine's
    basics as 'basics:'."""
    if part == "inference/":
        return "basics:"
    name = part.split("/")[-1]
    return f"{name}.py" if name in ("__init__", "__about__", "plugin") else f"{name}/"


def row(part: str, lines: list[str]) -> int:
    """The line of the drawing where a part stands (its first mention), or -1 where it is not drawn."""
    pattern = re.compile(r"(?<![\w/.])" + re.escape(label(part)))
    return next((number for number, line in enumerate(lines) if pattern.search(line)), -1)


def test_every_part_of_the_plugin_is_drawn():
    lines = drawing()
    parts = {part for edge in unit_imports() for part in edge} | {"trainer"}
    assert len(parts) >= 14
    missing = sorted(part for part in parts if row(part, lines) < 0)
    assert not missing, f"docs/architecture.md's import graph does not draw {missing}"


def upward(edges: dict[tuple[str, str], list[str]], lines: list[str]) -> list[str]:
    """The imports whose target is drawn at or above the part importing it."""
    return [f"{importer} imports {imported} ({', '.join(places[:3])}), drawn at or above it"
            for (importer, imported), places in sorted(edges.items())
            if row(imported, lines) <= row(importer, lines)]


def test_every_import_runs_down_the_drawing():
    found = upward(unit_imports(), drawing())
    assert not found, "\n".join(found)


def test_the_trainer_runs_apart():
    """trainer/ runs in its own process and environment: nothing imports it, and it imports nothing of the plugin."""
    edges = unit_imports()
    assert not [edge for edge in edges if "trainer" in edge], [edge for edge in edges if "trainer" in edge]


def test_the_basics_listed_are_the_engines_top_level_modules():
    lines = drawing()
    start = row("inference/", lines)
    listed = set()
    for line in lines[start:]:
        if line.strip().strip("│").strip() == "" or "└" in line:
            break
        listed |= set(re.findall(r"[a-z_]+", line.split("basics:")[-1]))
    modules = {path.stem for path in (REPO / "inference").glob("*.py") if path.stem != "__init__"}
    assert listed == modules, f"drawn but absent: {sorted(listed - modules)}; absent from the drawing: " \
                              f"{sorted(modules - listed)}"


def test_the_check_finds_an_arrow_that_points_up():
    """A drawing with ui/ above toolbelt/ holds ui's import of the toolbelt; one with them the other way round,
    or side by side, does not."""
    edges = {("ui", "toolbelt"): ["ui/dock.py:30"]}
    assert upward(edges, ["   ui/", "     │", "     v", "  toolbelt/"]) == []
    assert upward(edges, ["  toolbelt/", "     │", "     v", "   ui/"]) == [
        "ui imports toolbelt (ui/dock.py:30), drawn at or above it"]
    assert upward(edges, ["  toolbelt/    ui/"]) != []
    assert row("ui", ["  toolbelt/    gui/"]) == -1  # a name is matched whole, not inside another
    assert unit("s2cloudmask.inference.reading.stac") == "inference/reading"
    assert unit("s2cloudmask.inference.cog") == "inference/"
    assert unit("numpy") is None


def rooms_table() -> dict[str, str]:
    """The table under 'Every room': the first cell (`where`) -> the second (what it holds)."""
    text = ARCHITECTURE.read_text(encoding="utf-8").split("## Every room", 1)[1].split("\n## ", 1)[0]
    return {match[1]: match[2] for match in re.finditer(r"^\| `([^`]+)`[^|]*\| (.*)\|$", text, re.MULTILINE)}


def test_every_module_of_every_room_is_in_the_rooms_table():
    rooms = rooms_table()
    packages = [path.parent.relative_to(REPO).as_posix() for path in sorted(REPO.glob("*/__init__.py"))
                + sorted(REPO.glob("inference/*/__init__.py"))]
    folders = {"inference/": "inference", **{f"{package}/": package for package in packages
                                            if package not in ("inference", "tests", "tools")}}
    assert len(folders) >= 12
    assert set(folders) <= set(rooms), sorted(set(folders) - set(rooms))
    algorithms = ARCHITECTURE.read_text(encoding="utf-8").split("## Every algorithm", 1)[1].split("\n## ", 1)[0]
    unnamed = []
    for where, folder in folders.items():
        text = rooms[where] + (algorithms if folder == "processing" else "")
        named = {name.split("/")[-1] for name in re.findall(r"`([\w./]+\.(?:py|ui))`", text)
                 if folder != "processing" or name.startswith("processing/") or "/" not in name}
        present = {path.name for path in (REPO / folder).iterdir() if path.suffix in (".py", ".ui")} - {"__init__.py"}
        unnamed += [f"{folder}/{name}" for name in sorted(present - named)]
        unnamed += [f"{folder}/{name} (named, absent)" for name in sorted(named - present)]
    assert not unnamed, unnamed


def test_every_algorithm_is_in_the_algorithms_table():
    """The ids the algorithms answer with (processing/*.py, `def name`) are the table's ids, each with its module."""
    registered = {}
    for path in sorted((REPO / "processing").glob("*.py")):
        for algorithm_id in re.findall(r'def name\(self\) -> str:\s+return "(\w+)"', path.read_text(encoding="utf-8")):
            registered[f"s2cloudmask:{algorithm_id}"] = f"processing/{path.name}"
    text = ARCHITECTURE.read_text(encoding="utf-8").split("## Every algorithm", 1)[1].split("\n## ", 1)[0]
    table = dict(re.findall(r"^\| `(s2cloudmask:\w+)` \| `([\w/.]+)`", text, re.MULTILINE))
    assert len(registered) >= 8
    assert table == registered
