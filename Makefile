# Sentinel-2 Cloud Mask: developer and user entry points.
# On a fresh Debian 12 machine: `make demo` and `make test` do all the set-up themselves.

PYTHON      := /usr/bin/python3
VENV        ?= .venv
VENV_PY     := $(VENV)/bin/python
PRODUCT     ?=
DEMO_OUT    ?= demo-output
PYTEST_ARGS ?=
PRODUCTS    ?=
OUT         ?=
BATCH_ARGS  ?=
EXTENT      ?=
CRS         ?=
RESOLUTION  ?=
START       ?=
END         ?=
METHOD      ?=
MASKS       ?=
COMPOSITE_ARGS ?=
PATCHES     ?=
EPOCHS      ?= 20
BASE_MODEL  ?= auto

.PHONY: help setup train-env test test-engine test-fast test-qgis340 test-qgis344 demo batch composite bench finetune bench-levers bench-revisions bench-gpu accuracy package install uninstall screenshots translations clean

help:
	@echo "make setup       install QGIS (apt, where missing), the plugin's Python packages and the test tools"
	@echo "make test        set up, then run the whole test suite (engine tests, then QGIS tests in a real, offscreen QGIS)"
	@echo "make test-engine the engine tests alone, without starting QGIS (no training environment needed)"
	@echo "make test-fast   every test that needs neither ../shared/data nor long runs (markers slow, realdata): minutes"
	@echo "make test-qgis340 make demo and make test in a Debian 13 root file system with QGIS 3.40 LTR (root; built once, cached)"
	@echo "make test-qgis344 the same in Debian forky with QGIS 3.44"
	@echo "make demo        mask a product headless (PRODUCT=path, else the real sample, else a generated one)"
	@echo "make batch       mask many products on dask workers: PRODUCTS=<folder, glob or list file> OUT=<folder> [BATCH_ARGS=...]"
	@echo "make composite   a cloud-free composite: PRODUCTS=<folder, glob or list file> OUT=<composite.tif> [EXTENT= CRS= RESOLUTION= START= END= METHOD= MASKS=]"
	@echo "make bench       speed and memory against ukis-csmask, s2cloudless and the bare model; batch runner against a qgis_process loop; bytes a STAC item's 10 km extent fetches; composites"
	@echo "make bench-levers each speed lever alone (thread plans, codes thread, read-ahead, batch) and tile geometries scored on labels (docs/speed-levers.md)"
	@echo "make bench-revisions REVS=\"a b\"  the engine at several git revisions against CSmask on the full generated tile: what a change gave"
	@echo "make bench-gpu   the same on an NVIDIA GPU (installs onnxruntime-gpu into .deps-gpu); its row in docs/benchmarks.md"
	@echo "make accuracy    score the engine (shadow check off and on) against labels and the SCL; writes docs/accuracy.md"
	@echo "make finetune    fine-tune the U-Net on a patch folder: PATCHES=folder OUT=model.onnx [EPOCHS=20 BASE_MODEL=auto]"
	@echo "make train-env   the fine-tuning environment (PyTorch, outside QGIS) beside the packages folder; S2CLOUDMASK_TRAIN_CUDA=1 for the CUDA build"
	@echo "make package     build dist/s2cloudmask-<version>.zip and check it as the official plugin repository does"
	@echo "make translations update i18n/s2cloudmask.ts from the strings wrapped for translation (pylupdate5)"
	@echo "make install     install into your default QGIS profile, enabled, with its dependencies"
	@echo "make uninstall   remove it again"

setup:
	@S2CLOUDMASK_VENV=$(VENV) bash tools/setup.sh

train-env:
	$(PYTHON) packages/training_env.py create

# The fine-tuning tests need the training environment; where it cannot be made here, they skip with the reason.
test: setup
	-$(PYTHON) packages/training_env.py create
	$(VENV_PY) -m pytest $(PYTEST_ARGS)

test-engine: setup
	$(VENV_PY) -m pytest -p no:pytest_qgis tests/engine $(PYTEST_ARGS)

test-qgis340:
	@bash tools/debian_lane.sh trixie

test-qgis344:
	@bash tools/debian_lane.sh forky

# the two rooms side by side, one per core (each its own pytest process, sandbox and QGIS); the engine room's
# report follows the QGIS room's, and the target fails when either room fails
FAST := -m "not slow and not realdata"
test-fast: setup
	@log=$$(mktemp); \
	$(VENV_PY) -m pytest $(FAST) -p no:pytest_qgis tests/engine $(PYTEST_ARGS) > "$$log" 2>&1 & engine=$$!; \
	$(VENV_PY) -m pytest $(FAST) tests/qgis $(PYTEST_ARGS); qgis=$$?; \
	wait $$engine; engine=$$?; echo "--- engine room:"; cat "$$log"; rm -f "$$log"; \
	[ $$qgis -eq 0 ] && [ $$engine -eq 0 ]

demo: setup
	$(PYTHON) tools/demo.py --out $(DEMO_OUT) $(if $(PRODUCT),--product "$(PRODUCT)",)

batch: setup
	@test -n "$(PRODUCTS)" -a -n "$(OUT)" || { echo "usage: make batch PRODUCTS=<folder, glob or list file> OUT=<folder> [BATCH_ARGS='--workers 2 --resolution 60']"; exit 2; }
	$(PYTHON) tools/batch.py "$(PRODUCTS)" "$(OUT)" $(BATCH_ARGS)

composite: setup
	@test -n "$(PRODUCTS)" -a -n "$(OUT)" || { echo "usage: make composite PRODUCTS=<folder, glob or list file> OUT=<composite.tif> [EXTENT=xmin,ymin,xmax,ymax[,CRS] CRS=EPSG:... RESOLUTION=20 START=YYYY-MM-DD END=YYYY-MM-DD METHOD=median|bap MASKS=<folder> COMPOSITE_ARGS=...]"; exit 2; }
	$(PYTHON) tools/composite.py "$(PRODUCTS)" "$(OUT)" $(if $(EXTENT),--extent="$(EXTENT)",) $(if $(CRS),--crs "$(CRS)",) \
		$(if $(RESOLUTION),--resolution $(RESOLUTION),) $(if $(START),--start $(START),) $(if $(END),--end $(END),) \
		$(if $(METHOD),--method $(METHOD),) $(if $(MASKS),--masks "$(MASKS)",) $(COMPOSITE_ARGS)

bench: setup
	$(PYTHON) tools/bench.py
	$(PYTHON) tools/bench_batch.py
	$(PYTHON) tools/bench_stac.py
	$(PYTHON) tools/bench_composite.py

accuracy: setup
	$(PYTHON) tools/accuracy.py --write

bench-levers: setup
	$(PYTHON) tools/bench_levers.py

bench-revisions: setup
	@test -n "$(REVS)" || { echo 'usage: make bench-revisions REVS="<older revision> ... HEAD"'; exit 2; }
	$(PYTHON) tools/bench_revisions.py $(REVS)

# onnxruntime-gpu and the CUDA 12 / cuDNN 9 libraries it loads, in their own folder; the bench puts it first
GPU_PACKAGES := onnxruntime-gpu==1.31.1 nvidia-cuda-runtime-cu12 nvidia-cublas-cu12 nvidia-cudnn-cu12 nvidia-cufft-cu12 nvidia-curand-cu12
bench-gpu: setup
	[ -f .deps-gpu/.complete ] || ($(PYTHON) -m pip install -q --no-deps --target .deps-gpu $(GPU_PACKAGES) && touch .deps-gpu/.complete)
	$(PYTHON) tools/bench.py --device gpu --skip-full --skip-s2cloudless

finetune: setup train-env
	@test -n "$(PATCHES)" -a -n "$(OUT)" || { echo "usage: make finetune PATCHES=<patch folder> OUT=<model.onnx> [EPOCHS=20]"; exit 2; }
	$(PYTHON) tools/finetune.py --patches "$(PATCHES)" --out "$(OUT)" --epochs $(EPOCHS) --base-model "$(BASE_MODEL)"

package:
	$(PYTHON) tools/package.py

# Every translatable string: tr()/translate() calls in the QGIS-side code and the dock's .ui form.
TRANSLATED_SOURCES := plugin.py $(wildcard processing/*.py ui/*.py ui/*.ui)

translations: setup
	mkdir -p i18n
	pylupdate5 -noobsolete $(TRANSLATED_SOURCES) -ts i18n/s2cloudmask.ts

install: setup
	$(PYTHON) tools/install_plugin.py

uninstall:
	$(PYTHON) tools/install_plugin.py --uninstall

screenshots: setup
	xvfb-run -a -s "-screen 0 1366x768x24" env QT_QPA_PLATFORM=xcb $(PYTHON) tools/screenshots.py

clean:
	rm -rf dist build $(DEMO_OUT) bench-output .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
