#!/usr/bin/env bash
# Run the accel backend suite and the cuda benchmarks on a GPU machine, from
# the repository root, with the static binaries `make gpu-test` built into
# .gpu/ (the machine needs no Go toolchain). Output goes to stdout and, when
# $OUT is set, to $OUT/gpu-check.txt.
set -u
cd "$(dirname "$0")/.." || exit 1
dest=${OUT:-}
log() { if [ -n "$dest" ]; then tee -a "$dest/gpu-check.txt"; else cat; fi; }
[ -n "$dest" ] && mkdir -p "$dest" && : > "$dest/gpu-check.txt"
for b in .gpu/accel.test .gpu/cuda.test; do
	[ -x "$b" ] || { echo "missing $b: run make gpu-test first" | log; exit 1; }
done
status=0
run() {
	echo "== $*" | log
	# The binaries read testdata relative to their package directory.
	dir=$1; shift
	( cd "$dir" && "$@" ) 2>&1 | log
	[ "${PIPESTATUS[0]}" = 0 ] || status=1
}
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || true; } | log
# The backend suite on every backend (cuda must not skip here), the cuda
# package's tests (emulation, layouts, and that auto picks cuda).
run accel ../.gpu/accel.test -test.run 'TestAllBackends|TestSelect|TestBackendsList' -test.v -test.count=1
run accel/cuda ../../.gpu/cuda.test -test.v -test.count=1
# DenseLayer cuda vs cpu (kernel and end to end), NTT throughput and the
# fraction of the device-to-device copy rate.
run accel/cuda ../../.gpu/cuda.test -test.run '^$' -test.bench 'DenseLayerDevice|NTTDevice' -test.benchtime 10x
# The accel benchmarks on the selected backend against lattigo.
AIOS_ACCEL=cuda run accel ../.gpu/accel.test -test.run '^$' -test.bench 'DenseLayer|NTT' -test.benchtime 5x -test.short
# Batch encrypted inference, cuda vs cpu: the digits model and a 784→128→10
# model on a full batch (inference's benchmarks link the cuda backend).
for accel in cpu cuda; do
	AIOS_ACCEL=$accel run inference ../.gpu/inference.test -test.run '^$' -test.bench 'BatchDigits/optimized|BatchWide' -test.benchtime 3x -test.v
done
exit $status
