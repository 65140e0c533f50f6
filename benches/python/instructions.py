#!/usr/bin/env python3
"""Instructions per operation under callgrind: ffi_py against cffi ABI mode.

Run from the repository root with a Python that has cffi and ffi_py::

    python benches/python/instructions.py [--markdown FILE]

``compare.py`` times the rows; on a shared VM a row moves by 10-20% between
runs, and a ratio near its goal may pass or miss by chance. The number of
instructions an operation executes does not move: this script counts them
with valgrind's callgrind for the rows of ``compare.py`` (cffi ABI mode and
ffi_py, and the builtin ``abs`` for the GIL-kept row), as a second, stable
view of the same comparison. Instructions are not time (a GIL hand-over or
a cache miss costs more than its instruction count says), so the timed
ratios stay the goals' measure; these say where the work is.

Each figure is (instructions of a run doing the operation N times) minus
(the same run doing it 0 times), over N, so interpreter start-up and set-up
cancel out; both runs first do it 1,000 times so the interpreter has
specialised the loop. The qsort row sorts 3,000 shuffled ints with the
comparator of ``compare.py`` and divides by the number of comparisons.
Needs ``valgrind`` on PATH; exits with a message (status 0) without it.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

# The declarations and the docs region writer of the timed comparison.
from compare import CDEF, replace_region

# (key, label, statement); `lib`, `kept` (the GIL-kept lib), `p`, `ffi`
# are locals of the loop.
ROWS = [
    ("labs", "`labs(-5)`", "lib.labs(-5)"),
    ("strlen", '`strlen(b"hello, world")`', 'lib.strlen(b"hello, world")'),
    ("fabs", "`fabs(-2.5)`", "lib.fabs(-2.5)"),
    ("div", "`div(7, 3).quot`", "lib.div(7, 3).quot"),
    ("read", "`p.x`", "p.x"),
    ("write", "`p.x = 7`", "p.x = 7"),
    ("new", '`ffi.new("int[16]")`', 'ffi.new("int[16]")'),
]
N = 20_000
SORT_LEN = 3_000

BEGIN_MARK = "<!-- python-instructions:begin -->"
END_MARK = "<!-- python-instructions:end -->"

PRELUDE = """
import random, sys
import {module} as m
ffi = m.FFI()
ffi.cdef({cdef!r})
lib = ffi.dlopen(None)
kept = ffi.dlopen(None, release_gil=False) if m.__name__ == "ffi_py" else lib
p = ffi.new("struct point *")
"""

# timeit's own loop (as compare.py times with timeit): `repeat` makes no
# int per iteration, where `range` would add an allocation to every row.
LOOP = """
from itertools import repeat
def loop(n, lib=lib, kept=kept, p=p, ffi=ffi, repeat=repeat):
    for _ in repeat(None, n):
        {stmt}
loop(1000)
loop({n})
"""

SORT = """
cast = ffi.cast
count = [0]
def compare(a, b):
    x = cast("int *", a)[0]
    y = cast("int *", b)[0]
    return (x > y) - (x < y)
def counting(a, b):
    count[0] += 1
    return compare(a, b)
values = list(range({length}))
random.Random(1).shuffle(values)
array = ffi.new("int[]", values)
def sort(callback):
    array[0:{length}] = values
    lib.qsort(array, {length}, ffi.sizeof("int"), callback)
sort(ffi.callback("int(const void *, const void *)", counting))
plain = ffi.callback("int(const void *, const void *)", compare)
sort(plain)
for _ in range({n}):
    sort(plain)
if {report}:
    print(count[0])
"""


def instructions(python, source):
    """Instructions callgrind counts for running `source`."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(source)
    try:
        run = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
             python, f.name],
            capture_output=True, text=True, check=True)
    finally:
        os.unlink(f.name)
    found = re.search(r"Collected : (\d+)", run.stderr)
    if not found:
        sys.exit(f"no instruction count in valgrind's output:\n{run.stderr[-2000:]}")
    return int(found.group(1))


def per_operation(python, module, stmt):
    prelude = PRELUDE.format(module=module, cdef=CDEF)
    counts = [instructions(python, prelude + LOOP.format(stmt=stmt, n=n)) for n in (0, N)]
    return (counts[1] - counts[0]) / N


def per_comparison(python, module):
    prelude = PRELUDE.format(module=module, cdef=CDEF)
    comparisons = int(subprocess.run(
        [python, "-c", prelude + SORT.format(length=SORT_LEN, n=0, report=True)],
        capture_output=True, text=True, check=True).stdout)
    counts = [instructions(python, prelude + SORT.format(length=SORT_LEN, n=n, report=False))
              for n in (0, 1)]
    return (counts[1] - counts[0]) / comparisons


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--markdown", metavar="FILE",
                    help="rewrite the python-instructions region of FILE")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: instruction counts skipped")
        return
    python = sys.executable
    import cffi
    import ffi_py

    lines = [
        "Command: `python benches/python/instructions.py --markdown docs/benchmarks.md`",
        "",
        f"Python {sys.version.split()[0]}, cffi {cffi.__version__}, ffi_py "
        f"{getattr(ffi_py, '__version__', '?')}; instructions per operation "
        f"(callgrind), whole process, N = {N:,}.",
        "",
        "| row (instructions per operation) | cffi ABI | ffi_py | ffi_py ÷ cffi ABI |",
        "|---|---:|---:|---:|",
    ]
    for key, label, stmt in ROWS:
        theirs = per_operation(python, "cffi", stmt)
        ours = per_operation(python, "ffi_py", stmt)
        print(f"{key:8s} cffi ABI {theirs:8.0f}  ffi_py {ours:8.0f}  {ours / theirs:.2f}x",
              flush=True)
        lines.append(f"| {label} | {theirs:,.0f} | {ours:,.0f} | {ours / theirs:.2f}× |")
    theirs = per_comparison(python, "cffi")
    ours = per_comparison(python, "ffi_py")
    print(f"qsort    cffi ABI {theirs:8.0f}  ffi_py {ours:8.0f}  {ours / theirs:.2f}x")
    lines.append(f"| `qsort`, per comparison | {theirs:,.0f} | {ours:,.0f} | "
                 f"{ours / theirs:.2f}× |")
    builtin = per_operation(python, "ffi_py", "abs(-5)")
    kept = per_operation(python, "ffi_py", "kept.labs(-5)")
    print(f"GIL kept labs {kept:.0f} against builtin abs {builtin:.0f}: {kept / builtin:.2f}x")
    lines += ["", f"`labs(-5)` with the GIL kept: {kept:,.0f} instructions, the builtin "
              f"`abs(-5)` {builtin:,.0f} ({kept / builtin:.2f}×); both include the "
              "loop's own instructions."]
    if args.markdown:
        replace_region(args.markdown, [BEGIN_MARK, *lines, END_MARK],
                       "## Python: instructions per operation")


if __name__ == "__main__":
    main()
