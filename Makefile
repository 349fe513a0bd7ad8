# The course's commands. `make book` and `make test` are all a newcomer needs.
# .venv is made with PYTHON=... when given, else with the newest python3.X on PATH within
# requires-python (3.11 to 3.13), then python3; scripts/find_python.sh says which it chose,
# or what to install when none fits.
FIND_PYTHON = PYTHON="$(PYTHON)" $(SHELL) scripts/find_python.sh
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CHAPTERS := $(wildcard book/*.md)

# Quieter TensorFlow start-up (no oneDNN banner on stderr in stored outputs).
export TF_CPP_MIN_LOG_LEVEL ?= 2
# Kernel settings for builds and tests (see config/ipython/profile_default).
export IPYTHONDIR := $(CURDIR)/config/ipython
# matplotlib's font cache kept beside the environment, not in ~/.cache: a stale cache there
# once made the kernels print "findfont: Font family ... not found" into stored outputs.
export MPLCONFIGDIR := $(CURDIR)/$(VENV)/matplotlib
# Chapters execute in book/, so a relative MNIST_PATH is made absolute here.
ifdef MNIST_PATH
export MNIST_PATH := $(abspath $(MNIST_PATH))
endif

# Installing this package writes course_utils.egg-info into the checkout: one at a time,
# as two test layers may install into two environments at once. A lock file held through
# Python's fcntl.flock (flock(1) is Linux-only): `ENV/bin/python $(ONE_BUILD) COMMAND`.
ONE_BUILD := scripts/one_at_a_time.py $(CURDIR)/.install.lock

# MathJax is served from the build, not a CDN, so the book works offline (npm package).
MATHJAX_VERSION := 3.2.2
MATHJAX := _vendor/mathjax/tex-mml-chtml.js
# axe-core (npm) for the accessibility checks of the browser tests: kept beside the venv,
# not in _vendor, so the published book does not carry it.
AXE_VERSION := 4.14.1
AXE := $(VENV)/npm-axe/node_modules/axe-core/axe.min.js

# Japanese renders from Noto Sans JP served with the book (npm package, OFL), subset after
# the build to the characters its pages use (scripts/japanese_font.py).
FONT_VERSION := 5.2.8
FONTSOURCE := $(VENV)/npm-font/node_modules/@fontsource/noto-sans-jp

# After a failed build, print the execution reports (a chapter's traceback) into the log.
SHOW_REPORTS := sh -c 'find "$$0/html/reports" -name "*.log" 2>/dev/null | while read f; do echo "== $$f"; cat "$$f"; done'

.PHONY: help venv book pdf notebooks reproduce experiments student grade test test-setup test-unit test-notebooks test-book test-student test-browser test-browser-pages test-browser-explorers test-pdf test-oldest test-latest clean

help:
	@echo "make book       create .venv and build the HTML book into _build/html"
	@echo "make test       create .venv and run every test (unit, notebooks, book build, browser)"
	@echo "make pdf        print both editions to _build/pdf/book.pdf and book-ja.pdf (headless Chromium)"
	@echo "make notebooks  re-execute every chapter and rewrite its paired .ipynb"
	@echo "make reproduce  retrain the reference runs (about 20 min on 2 CPU cores)"
	@echo "make experiments  run the architecture sweep of chapter 10 into experiments/sweep (resumable; hours on 2 cores)"
	@echo "make student    write the student edition (notebooks and HTML) into student/"
	@echo "make grade SUBMISSIONS=dir   grade submitted notebooks, each in a sandbox, into grades.csv,"
	@echo "                             with feedback pages, class report and Canvas CSV beside it"
	@echo "make clean      remove _build, student/ and _nbval/ (keeps .venv)"

venv: $(STAMP)

# uv (from PyPI, into the venv) installs the pinned packages: it fetches and unpacks them in
# parallel, where pip did one at a time on one core (2026-12-03 on 2 cores: 23 s with uv's
# download cache filled; pip's install was about 85 s of a clean-clone run; the same versions). It byte-compiles them too, as pip does: with
# PYTHONDONTWRITEBYTECODE set (as on CI's machines), a package left uncompiled is compiled
# again by every process that imports it (TensorFlow: 15 s of CPU instead of 8).
# Its own stamp, so that a .venv made before uv (or with another version) gets it.
UV_VERSION := 0.13.9
UV := $(BIN)/python -m uv pip install --quiet
UV_STAMP := $(VENV)/.uv-$(UV_VERSION)
$(UV_STAMP):
	test -x $(BIN)/python || { py=$$($(FIND_PYTHON)) && "$$py" -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	touch $@
$(STAMP): requirements.txt pyproject.toml $(UV_STAMP)
	$(UV) --python $(BIN)/python --compile-bytecode --upgrade-package pip pip -r requirements.txt   # pip: the newest (test_wheels asks it)
	$(UV) --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

$(MATHJAX): Makefile
	npm install --silent --no-save --no-package-lock --prefix $(VENV)/npm mathjax@$(MATHJAX_VERSION)
	rm -rf _vendor/mathjax && mkdir -p _vendor/mathjax
	cd $(VENV)/npm/node_modules/mathjax/es5 && cp -r tex-mml-chtml.js input output ui a11y sre $(CURDIR)/_vendor/mathjax/

$(FONTSOURCE)/400.css: Makefile
	npm install --silent --no-save --no-package-lock --prefix $(VENV)/npm-font @fontsource/noto-sans-jp@$(FONT_VERSION)
	touch $@

# The Japanese edition: $(1) is its book folder, $(2) the build folder whose html/ gets it
# as html/ja (its pages link to their English twins there); then the Japanese font into both.
BUILD_JA = { $(BIN)/jupyter-book build -W -n --keep-going $(1) --path-output $(2)/ja-edition \
		|| { $(SHOW_REPORTS) $(2)/ja-edition/_build; false; }; } && \
	rm -rf $(2)/html/ja && cp -r $(2)/ja-edition/_build/html $(2)/html/ja && \
	$(BIN)/python scripts/japanese_font.py $(FONTSOURCE) $(2)/html $(2)/html/ja
# Both editions: English into _build/html, Japanese (ja/, built on its own with its own
# language) into _build/html/ja.
BUILD_EDITIONS = { $(BIN)/jupyter-book build -W -n --keep-going . || { $(SHOW_REPORTS) _build; false; }; } && \
	$(call BUILD_JA,ja,_build)

$(AXE): Makefile
	npm install --silent --no-save --no-package-lock --prefix $(VENV)/npm-axe axe-core@$(AXE_VERSION)
	touch $(AXE)

book: $(STAMP) $(MATHJAX) $(FONTSOURCE)/400.css
	@$(BUILD_EDITIONS)
	@echo "Book built: open $(CURDIR)/_build/html/index.html (日本語版: $(CURDIR)/_build/html/ja/index.html)"

# Every built page printed by Debian's Chromium in table-of-contents order, then merged;
# nothing is executed again. The front page links the PDF once it exists.
# The two editions print at once: each mostly waits on its pages.
pdf: $(STAMP)
	test -f _build/html/index.html || $(MAKE) book
	$(BIN)/python scripts/book_pdf.py _build/html _build/pdf/book.pdf & english=$$!; \
	$(BIN)/python scripts/book_pdf.py _build/html/ja _build/pdf/book-ja.pdf --edition ja; japanese=$$?; \
	wait $$english && exit $$japanese

# TensorFlow runs on one thread in the chapters' kernels, when their outputs are stored
# (make notebooks) and when they are compared (nbval, test-latest): the same arithmetic in
# both (a training run's last digits depend on how its sums are split between threads).
# Chapter 6 alone used 28% less CPU so; in a whole CI run the kernels' CPU barely changed.
notebooks test-notebooks test-latest: export TF_NUM_INTRAOP_THREADS := 1
notebooks test-notebooks test-latest: export TF_NUM_INTEROP_THREADS := 1

notebooks: $(STAMP)
	$(BIN)/python scripts/execute_chapters.py $(CHAPTERS)
	$(BIN)/python scripts/translations.py notebooks   # the Japanese notebooks take the new outputs

reproduce: $(STAMP)
	$(BIN)/python scripts/reproduce.py

# Resumable: stored runs are skipped. EXPERIMENTS_ARGS="--only source --seeds 0" for a part.
# Dask tasks: a local cluster (one worker per core), or SCHEDULER=tcp://HOST:8786 (README "Scaling out").
experiments: $(STAMP)
	$(BIN)/python scripts/run_experiments.py $(if $(SCHEDULER),--scheduler $(SCHEDULER)) $(EXPERIMENTS_ARGS)

# Student edition: solutions replaced by placeholders, the stored outputs of the cells before
# the exercises kept, none after; HTML without solutions. Nothing is executed: those cells
# are the chapter's own (nbval re-checks their outputs), and that the edition runs top to
# bottom is proven by test-notebooks (scripts/nbval_notebooks.py), in the one run per chapter.
student: $(STAMP) $(MATHJAX) $(FONTSOURCE)/400.css
	$(BIN)/python scripts/student_edition.py student
	$(BIN)/jupyter-book build -W -n --keep-going student || { $(SHOW_REPORTS) student/_build; false; }
	@$(call BUILD_JA,student/ja,student/_build)
	@echo "Student notebooks: student/book/*.ipynb (日本語: student/ja/book/*.ipynb); HTML: $(CURDIR)/student/_build/html/index.html"

# One bubblewrap sandbox per submission (Debian: apt-get install bubblewrap); see the
# instructor guide. More options: GRADE_ARGS="--jobs 2 --exercises ex-output-size,ex-conv-stride".
grade: $(STAMP)
	test -n "$(SUBMISSIONS)" || (echo "usage: make grade SUBMISSIONS=folder-of-notebooks [GRADE_ARGS='--jobs 2']" && false)
	$(BIN)/python scripts/grade.py "$(SUBMISSIONS)" --out grades.csv $(if $(SCHEDULER),--scheduler $(SCHEDULER)) $(GRADE_ARGS)

# `make test`: every layer below, two at a time for CI's 2 cores (-j2), each printed in one
# piece when it ends (--output-sync), all of them even after one fails (-k), so one log shows
# every failure. scripts/run_layer.py runs each under a time limit (LIMIT_..., seconds): a
# layer that hangs is stopped with everything it started, named, and what it printed until
# then is shown; every layer's log is also kept in test-reports/.
TEST_LAYERS := test-book test-notebooks test-browser-pages test-browser-explorers test-unit test-pdf test-oldest test-student test-latest
LIMIT_test-notebooks := 1800
LIMIT_test-browser-pages := 1800
LIMIT_test-browser-explorers := 1800
LIMIT_test-latest := 1500
LIMIT_test-oldest := 900
LIMIT_test-unit := 900
# What the tests need: the environment (pip, one core) and the npm packages, at once.
test-setup:
	@$(MAKE) -j4 --no-print-directory $(STAMP) $(MATHJAX) $(AXE) $(FONTSOURCE)/400.css

test: test-setup
	@mkdir -p test-reports && rm -f test-reports/*.status
	@$(MAKE) -j4 -k --output-sync=target --no-print-directory $(TEST_LAYERS:%=layer-%)
	@$(BIN)/python scripts/run_layer.py --summary $(TEST_LAYERS)

# Within one run (these prerequisites name the layer-* targets only `make test` uses), four
# chains at once on CI's 2 cores, since the browser layers mostly wait on pages (measured
# 2026-12-03: 130 s of CPU in 365 s): the book, then the pages' tests, the student
# edition, the oldest and the newest versions; the book, then the explorers' tests and the
# PDFs; nbval; the unit tests. The newest versions (test-latest) start Jupyter kernels, so
# they also wait for nbval: two processes starting kernels at the same moment can take
# each other's ports and hang (the unit tests start none). A layer-* target succeeds even
# when its layer fails (it records the status), so that every chain runs to its end;
# `make test` then fails, naming the layers that failed.
layer-test-browser-pages: | layer-test-book
layer-test-browser-explorers: | layer-test-book
layer-test-pdf: | layer-test-browser-explorers
layer-test-student: | layer-test-browser-pages
layer-test-oldest: | layer-test-student
layer-test-latest: | layer-test-oldest layer-test-notebooks
layer-%: $(STAMP)
	@$(BIN)/python scripts/run_layer.py $* $(or $(LIMIT_$*),600) $(MAKE) --no-print-directory $* || true

test-unit: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python -m pytest -q -rs --durations=15 tests --ignore=tests/browser --doctest-modules course_utils \
		--deselect tests/test_student_edition.py::test_student_html_holds_no_solution   # make test-student runs it on the built HTML

# One kernel per chapter: its stored outputs compared, then its student edition's exercise
# cells run on the state the shared cells left (they must not raise; scripts/nbval_notebooks.py
# says what this does not cover). The notebooks are written into _nbval/ (gitignored).
test-notebooks: $(STAMP)
	$(BIN)/python scripts/nbval_notebooks.py --out _nbval
	$(BIN)/python -m pytest -q -rs --durations=15 --nbval _nbval/*.ipynb \
		--nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout=600

test-book: $(STAMP) $(MATHJAX) $(FONTSOURCE)/400.css
	rm -rf _build
	@$(BUILD_EDITIONS)
	test -f _build/html/index.html && test -f _build/html/ja/index.html

# The rest of tests/test_student_edition.py runs in test-unit.
test-student: student
	$(BIN)/python -m pytest -q -rs tests/test_student_edition.py::test_student_html_holds_no_solution

# The built HTML in headless Chromium (Debian's chromium; .ci/run installs it), in two
# layers that `make test` runs at once (each mostly waits on pages): every page as a reader
# sees it, then the explorers, the Japanese edition's switch and fonts, and launch links.
BROWSER_PAGES := tests/browser/test_reader_view.py tests/browser/test_book_in_browser.py
test-browser: test-browser-pages test-browser-explorers
test-browser-pages: $(STAMP) $(AXE)
	test -f _build/html/index.html || $(MAKE) test-book
	$(BIN)/python -m pytest -q -rs --durations=15 $(BROWSER_PAGES)
test-browser-explorers: $(STAMP)
	test -f _build/html/index.html || $(MAKE) test-book
	$(BIN)/python -m pytest -q -rs --durations=15 tests/browser --ignore=tests/browser/test_pdf.py \
		$(BROWSER_PAGES:%=--ignore=%)

# Both editions printed from the built book, then read back (tests/browser/test_pdf.py): a
# sample of pages, since each page is printed the same way and printing every page of both
# editions took most of a test run's CPU (`make pdf` prints them all).
PDF_SAMPLE := book/00_intro,book/02_stride,book/05_backprop,book/08_what_it_learned
test-pdf: $(STAMP)
	test -f _build/html/index.html || $(MAKE) test-book
	$(BIN)/python scripts/book_pdf.py _build/html _build/pdf-sample/book.pdf --only $(PDF_SAMPLE) & english=$$!; \
	$(BIN)/python scripts/book_pdf.py _build/html/ja _build/pdf-sample/book-ja.pdf --edition ja --only $(PDF_SAMPLE); \
	japanese=$$?; wait $$english && test $$japanese = 0
	PDF_DIR=_build/pdf-sample PDF_ONLY=$(PDF_SAMPLE) $(BIN)/python -m pytest -q -rs tests/browser/test_pdf.py

# course_utils on the oldest versions it claims to support (pyproject.toml lower bounds), on
# Python 3.11: NumPy 1.23.5 has no wheels for newer Pythons. OLDEST_PYTHON=... names the
# interpreter, else python3.11 or python3 on PATH. With no Python 3.11 the layer is skipped
# with a message, except in CI (CI set to anything but empty, 0, false, no or off, the rule of
# tests/conftest.py's in_ci()), where that fails. .venv's uv installs its packages without
# byte-compiling them: the smoke test imports a few of TensorFlow's thousands of modules.
OLDEST := .venv-oldest
test-oldest: tests/oldest/requirements.txt $(STAMP)
	@test -x $(OLDEST)/bin/python || { \
		py=$$(PYTHON="$(OLDEST_PYTHON)" PYTHON_VAR=OLDEST_PYTHON $(SHELL) scripts/find_python.sh 3.11 3.11) || { case "$$(echo "$$CI" | tr A-Z a-z)" in ""|0|false|no|off) ;; *) false;; esac \
			&& echo "make test-oldest: SKIPPED, it needs Python 3.11 (OLDEST_PYTHON=/path/to/python3.11); CI runs it"; exit; }; \
		"$$py" -m venv $(OLDEST) || exit; }; \
	set -ex; \
	$(UV) --python $(OLDEST)/bin/python -r tests/oldest/requirements.txt; \
	$(BIN)/python $(ONE_BUILD) $(UV) --python $(OLDEST)/bin/python --no-deps -e .; \
	MPLBACKEND=Agg $(OLDEST)/bin/python tests/oldest/smoke.py

clean:
	rm -rf _build student _nbval

# The Colab path: the newest TensorFlow and Keras (unpinned) plus `pip install .`, every
# chapter executed top to bottom. Errors fail; changed outputs are reported, not failed.
LATEST := .venv-latest
# When the newest releases are exactly what .venv has (nbval has just run every chapter on
# them), running the chapters again would repeat nbval: it says so and stops.
test-latest: $(STAMP)
	@$(BIN)/python tests/latest/newest_versions.py; rc=$$?; if [ $$rc = 3 ]; then \
		echo "test-latest: the newest releases are the versions nbval ran every chapter on; not run twice"; exit 0; fi; \
	set -e; \
	test -x $(LATEST)/bin/python || { py=$$($(FIND_PYTHON)) && "$$py" -m venv $(LATEST); }; \
	$(LATEST)/bin/python -m pip install --quiet --upgrade -r tests/latest/requirements.txt; \
	$(LATEST)/bin/python $(ONE_BUILD) $(LATEST)/bin/python -m pip install --quiet .; \
	$(LATEST)/bin/python tests/latest/run_chapters.py --report test-reports/latest-report.txt
