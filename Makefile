# Benchmarks (see benchmarks/*.py): `make bench` runs them all and prints the summary.
# Each writes artifacts/<name>.json; artifacts/bench.json gathers them.
PYTHON ?= .venv/bin/python

.PHONY: bench bench-trainer bench-quality bench-series bench-grading bench-summary bench-routes
.NOTPARALLEL:  # timings: one benchmark at a time

bench: bench-trainer bench-quality bench-series bench-grading
	$(PYTHON) benchmarks/bench.py

bench-trainer:
	$(PYTHON) benchmarks/bench_trainer.py

bench-quality:
	$(PYTHON) benchmarks/bench_quality.py

# A notebook that fails is marked FAILED in the summary; the summary still prints.
bench-series:
	-$(PYTHON) benchmarks/bench_series.py

# The 11 correct notebooks graded on the default path (worker pool, kernel zygote, small data set,
# cells no graded cell needs left out), on synthetic data, each candidate alone, on a local Dask
# cluster of two workers, and the previous design (a process per notebook) for the old/default ratio.
bench-grading:
	$(PYTHON) benchmarks/bench_grading.py

bench-summary:
	$(PYTHON) benchmarks/bench.py

bench-routes:
	$(PYTHON) benchmarks/bench_trainer.py --routes
