#!/usr/bin/env bash
# The parts of the workspace Miri can run, under Miri: the core's pure
# data structures (timer heap, pending queues, fd table, extension
# slots, clock arithmetic) and evloop-buffer's Buffer, whose unsafe code
# (spare capacity handed to reads, iovecs built over its chunks) Miri
# checks for undefined behaviour, against its Vec model and over pipes.
# Tests that need what Miri does not emulate (epoll, socket ioctls,
# sendfile, getrlimit) are left out by name.
#
#   bash scripts/miri.sh           (about 10 minutes)
#
# Needs the nightly toolchain with the miri and rust-src components:
#   rustup component add --toolchain nightly miri rust-src
# Proptests run a handful of cases under Miri (see `cfg!(miri)` in them).
set -euo pipefail
cd "$(dirname "$0")/.."
export MIRIFLAGS="${MIRIFLAGS:--Zmiri-disable-isolation}"
run() { echo "== cargo +nightly miri test $*"; cargo +nightly miri test "$@"; }
run -p evloop --lib -- --skip sys::
run -p evloop-buffer --lib
run -p evloop-buffer --test buffer_model
run -p evloop-buffer --test buffer_fd -- writev_takes write_to_honours
# Miri's leak check reports, at exit, a 128 KiB "stack variable" allocated
# at the readv call of Buffer::read_from, as large as the two spaces the
# iovecs describe; the program's only local there is the 32-byte iovec
# array, so that allocation is the scratch of Miri's readv emulation, and
# leaks are not checked for this run (its undefined-behaviour checks stay).
MIRIFLAGS="$MIRIFLAGS -Zmiri-ignore-leaks" run -p evloop-buffer --test lines -- over_a_pipe a_lone_cr
echo "miri: no undefined behaviour found"
