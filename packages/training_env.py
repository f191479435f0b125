"""The fine-tuning environment: a virtual environment with PyTorch, beside the plugin's package folder.

QGIS must never load PyTorch (hundreds of MB, its own OpenMP and numpy), so
fine-tuning runs `python -m trainer` with this environment's interpreter. It
lies beside the package folder (folders.py), outside the plugin folder, so
plugin updates keep it: ``<root>/training-py<X.Y>``, where ``$S2CLOUDMASK_TRAIN_ENV``
names another folder. It is made from the pins in
resources/requirements-train.txt and marked complete by a file holding those
pins, so a changed pin asks for a new one.

QGIS's Python creates it, as a script (``python packages/training_env.py create``):
the plugin's dialog (Raster > Sentinel-2 Cloud Mask > Create the fine-tuning
environment…), ``make train-env`` and a user's shell all run that command.
pip takes a CPU build of PyTorch: where the package index would give the CUDA
build (Linux), PyTorch comes from PyTorch's own CPU index instead, unless
``--cuda`` asks for the CUDA build (several GB of NVIDIA libraries). The
environment is built under a hidden temporary name, checked by a self-test
(`python -m trainer self-test`: a tiny graph converted, trained one step and
exported) and renamed into place only then.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__" and not __package__:  # run as a script: import the sibling modules as their package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "packages"  # noqa: A001

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402

from . import PLUGIN_DIR  # noqa: E402
from .folders import dependency_root, python_tag  # noqa: E402
from .installer import python_executable, shell_command  # noqa: E402
from .requirements import TRAINING_REQUIREMENTS, distribution_name, requirement_lines  # noqa: E402

ENV_VARIABLE = "S2CLOUDMASK_TRAIN_ENV"
COMPLETE_MARKER = ".complete"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"  # PyTorch's own index of CPU builds
MENU = "Raster > Sentinel-2 Cloud Mask > Create the fine-tuning environment…"


def environment_dir(plugin_dir: Path = PLUGIN_DIR) -> Path:
    """Where the environment lives: $S2CLOUDMASK_TRAIN_ENV, else beside the package folders."""
    given = os.environ.get(ENV_VARIABLE)
    return Path(given) if given else dependency_root(plugin_dir) / f"training-{python_tag()}"


def interpreter(folder: Path) -> Path:
    return folder / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def pins() -> list[str]:
    return requirement_lines(TRAINING_REQUIREMENTS)


def is_ready(folder: Path) -> bool:
    """Whether the environment exists, was completed, and for the pins of this plugin version."""
    marker = folder / COMPLETE_MARKER
    if not (interpreter(folder).is_file() and marker.is_file()):
        return False
    return [line.strip() for line in marker.read_text(encoding="utf-8").splitlines() if line.strip()] == pins()


def state(folder: Path) -> str:
    """The environment in words, for messages: ready, out of date or missing."""
    if is_ready(folder):
        return "is ready"
    return "is out of date (its pins changed)" if interpreter(folder).is_file() else "does not exist"


def creation_command(cuda: bool = False) -> list[str]:
    """The one creation command: this file run by QGIS's Python."""
    return [python_executable(), "-u", str(Path(__file__).resolve()), "create", *(["--cuda"] if cuda else [])]


def instructions(folder: Path) -> str:
    """What a user does to get the environment: the menu entry in QGIS, the command in a shell."""
    return (f"Fine-tuning runs PyTorch outside QGIS, in its own environment {folder}, which {state(folder)}. "
            f"Create it in QGIS with {MENU}, or from a shell with: {shell_command(creation_command())}")


def _run(command: list[str], step: str) -> None:
    print(f"\n== {step}\n$ {shell_command(command)}", flush=True)
    done = subprocess.run(command, env={**os.environ, "PIP_NO_WARN_SCRIPT_LOCATION": "1"}, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{step} failed (exit code {done.returncode}).")


def torch_pin() -> str:
    return next(line for line in pins() if distribution_name(line) == "torch")


def is_cuda_build(python: Path) -> bool:
    """Whether pip, as this machine configures it, would take a CUDA build of the pinned PyTorch (it then requires
    NVIDIA's libraries). A dry run: nothing is downloaded but the index pages."""
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--dry-run", "--quiet", "--no-deps", "--disable-pip-version-check",
         "--report", "-", torch_pin()], capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"pip cannot find {torch_pin()}: {done.stderr.strip()[-500:]}")
    chosen = json.loads(done.stdout)["install"][0]
    needs = chosen["metadata"].get("requires_dist") or []
    print(f"pip would take {chosen['download_info']['url'].rsplit('/', 1)[-1]}", flush=True)
    return any(requirement.startswith("nvidia-") for requirement in needs)


def self_test(folder: Path) -> bool:
    """`python -m trainer self-test` in the environment, with the plugin folder as its PYTHONPATH."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONHOME", "PYTHONPATH")}
    env["PYTHONPATH"] = str(PLUGIN_DIR)
    done = subprocess.run([str(interpreter(folder)), "-m", "trainer", "self-test"], env=env, cwd=str(PLUGIN_DIR),
                          capture_output=True, text=True, timeout=600, check=False)
    print((done.stdout + done.stderr).strip(), flush=True)
    return done.returncode == 0


def create(folder: Path | None = None, cuda: bool = False, force: bool = False) -> Path:
    """Build the environment under a temporary name, self-test it, rename it into place; its folder."""
    folder = folder or environment_dir()
    if is_ready(folder) and not force:
        print(f"The fine-tuning environment in {folder} is ready.")
        return folder
    staging = folder.with_name(f".{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        _run([python_executable(), "-m", "venv", str(staging)], "Creating the virtual environment (step 1 of 4)")
        python = interpreter(staging)
        pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
        print("\n== Choosing the PyTorch build (step 2 of 4)", flush=True)
        if cuda:
            print("The CUDA build was asked for: pip takes what the package index offers.", flush=True)
        elif is_cuda_build(python):
            print(f"That is a CUDA build: PyTorch's CPU build comes from {CPU_INDEX} instead.", flush=True)
            _run([*pip, "--index-url", CPU_INDEX, torch_pin()], "Installing PyTorch, CPU build (step 2 of 4)")
        _run([*pip, "-r", str(TRAINING_REQUIREMENTS)], "Installing the pinned packages (step 3 of 4)")
        print("\n== Self-test (step 4 of 4)", flush=True)
        if not self_test(staging):
            raise SystemExit("The self-test failed: the output above says where.")
        (staging / COMPLETE_MARKER).write_text("\n".join(pins()) + "\n", encoding="utf-8")
        retired = folder.with_name(f".{folder.name}.retired-{os.getpid()}")
        if folder.exists():
            folder.rename(retired)
        staging.rename(folder)
        shutil.rmtree(retired, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"\nThe fine-tuning environment is ready in {folder}.", flush=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description="The plugin's fine-tuning environment (PyTorch, outside QGIS).")
    parser.add_argument("action", nargs="?", default="path", choices=("path", "create", "self-test"))
    parser.add_argument("--cuda", action="store_true", help="the CUDA build of PyTorch (several GB), not the CPU one")
    parser.add_argument("--force", action="store_true", help="create it again even if it is ready")
    args = parser.parse_args()
    folder = environment_dir()
    if args.action == "path":
        print(folder)
    elif args.action == "create":
        create(folder, cuda=args.cuda or os.environ.get("S2CLOUDMASK_TRAIN_CUDA") == "1", force=args.force)
    elif not self_test(folder):
        raise SystemExit(3)


if __name__ == "__main__":
    main()
