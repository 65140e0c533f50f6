#!/usr/bin/env python3
"""Call overhead side by side: ctypes, cffi ABI mode, cffi API mode and ffi_py.

Run from the repository root (``.venv`` is gitignored)::

    .venv/bin/python benches/python/compare.py [--quick] [--markdown FILE] [--plot FILE.png]

Everything runs in this one process. Each row is a small statement written
the way a user of that library would write it (``lib.labs(-5)``, ``p.x``,
``ffi.new("int[16]")``; ``lib``, ``p`` and ``ffi`` are local variables),
timed ``timeit``-style: the loop count is chosen so one measurement takes
about 0.2 s, and the best of several measurements counts. The
implementations of one row are measured in turn, round after round, so a
burst of load on this shared machine hits all of them alike.

- cffi ABI mode: ``FFI().cdef(...)`` + ``ffi.dlopen(None)``.
- cffi API mode: the same declarations compiled by cffi into an extension
  module (``ffi.set_source`` + ``ffi.compile``) under
  ``<target>/bench-cffi-api/`` (``<target>`` is ``$CARGO_TARGET_DIR`` or
  ``target/``); cffi rebuilds it on every run, which takes well under a
  second. Its comparator is an ``extern "Python"`` function, API mode's own
  way of letting C call Python.
- ffi_py: skipped, with the reason, if the import fails; a row it cannot run
  yet (a missing name, an exception, a wrong result) is left empty and the
  reason printed.

Every implementation's result is checked once before it is timed.
The ``qsort`` row sorts 10,000 ints with a Python comparator; a first,
untimed run counts the comparator's calls, and the row reports the best
sort time divided by that count.

The ratios against the project's goals are printed as PASS or MISS. This is
a measurement, not a test: the exit status is 0 whether or not a goal is met.
"""

import argparse
import ctypes
import datetime
import faulthandler
import gc
import importlib.util
import math
import os
import platform
import random
import shlex
import sys
import time
import timeit
from pathlib import Path

import cffi

BUILTIN, CTYPES, CFFI_ABI, CFFI_API, FFI_PY = (
    "builtin", "ctypes", "cffi ABI", "cffi API", "ffi_py")
IMPLS = (BUILTIN, CTYPES, CFFI_ABI, CFFI_API, FFI_PY)

# Declarations shared by cffi ABI, cffi API and ffi_py.
CDEF = """
long labs(long);
size_t strlen(const char *);
double fabs(double);
typedef struct { int quot; int rem; } div_t;
div_t div(int, int);
void qsort(void *, size_t, size_t, int(*)(const void *, const void *));
struct point { int x; int y; };
"""
API_MODULE = "_compare_cffi_api"
API_COMPARE = "bench_compare"
API_CDEF = CDEF + f'extern "Python" int {API_COMPARE}(const void *, const void *);\n'
API_SOURCE = """
#include <math.h>
#include <stdlib.h>
#include <string.h>
struct point { int x; int y; };
"""

SORT_LEN = 10_000
TEXT = b"hello, world"

BEGIN_MARK = "<!-- python-compare:begin -->"
END_MARK = "<!-- python-compare:end -->"


class Case:
    """One implementation's statement for one row.

    ``names`` become local variables of the timing loop. ``stmt`` runs once
    before timing, then ``check`` (an expression) must evaluate to
    ``expected``.
    """

    def __init__(self, stmt, names, check, expected):
        self.stmt, self.names = stmt, names
        self.check, self.expected = check, expected


class Row:
    def __init__(self, key, label, cases):
        self.key, self.label = key, label
        # impl -> zero-argument function returning a Case (may raise).
        self.cases = cases
        self.ns = {}      # impl -> best ns per operation
        self.notes = {}   # impl -> why there is no figure


class Skip(Exception):
    """An implementation cannot run a row; the message says why."""


# --- setting up the four implementations ------------------------------------

def setup_ctypes():
    libc = ctypes.CDLL(None)
    libc.labs.argtypes, libc.labs.restype = [ctypes.c_long], ctypes.c_long
    libc.strlen.argtypes, libc.strlen.restype = [ctypes.c_char_p], ctypes.c_size_t
    libc.fabs.argtypes, libc.fabs.restype = [ctypes.c_double], ctypes.c_double

    class DivT(ctypes.Structure):
        _fields_ = [("quot", ctypes.c_int), ("rem", ctypes.c_int)]

    class Point(ctypes.Structure):
        _fields_ = [("x", ctypes.c_int), ("y", ctypes.c_int)]

    libc.div.argtypes, libc.div.restype = [ctypes.c_int, ctypes.c_int], DivT
    compare_type = ctypes.CFUNCTYPE(
        ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int))
    libc.qsort.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, compare_type]
    libc.qsort.restype = None
    return libc, Point, compare_type


def setup_cffi_abi():
    ffi = cffi.FFI()
    ffi.cdef(CDEF)
    return ffi, ffi.dlopen(None)


def build_cffi_api(target_dir):
    """Compile the API-mode module (cffi writes C, then runs the compiler)."""
    build_dir = target_dir / "bench-cffi-api"
    build_dir.mkdir(parents=True, exist_ok=True)
    builder = cffi.FFI()
    builder.cdef(API_CDEF)
    builder.set_source(API_MODULE, API_SOURCE, libraries=["m"])
    started = time.perf_counter()
    so_path = builder.compile(tmpdir=str(build_dir), verbose=False)
    took = time.perf_counter() - started
    spec = importlib.util.spec_from_file_location(API_MODULE, so_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    print(f"cffi API module: {os.path.relpath(so_path)} (built in {took:.1f} s)")
    return module.ffi, module.lib


def setup_ffi_py():
    """Returns (ffi, lib, version) or raises Skip with the reason."""
    try:
        import ffi_py
    except Exception as e:
        raise Skip(f"import ffi_py failed: {type(e).__name__}: {e}")
    version = getattr(ffi_py, "__version__", "?")
    try:
        ffi = ffi_py.FFI()
        ffi.cdef(CDEF)
        lib = ffi.dlopen(None)
    except Exception as e:
        raise Skip(f"ffi_py {version}: FFI()/cdef/dlopen failed: {type(e).__name__}: {e}")
    return ffi, lib, version


# --- rows -------------------------------------------------------------------

def scalar_row(key, label, call, expected, impls):
    """A row calling ``lib.<call>`` through each implementation's lib."""
    def case(lib):
        return lambda: Case(f"lib.{call}", {"lib": lib}, f"lib.{call}", expected)
    return Row(key, label, {impl: case(lib) for impl, lib in impls.items()})


def struct_rows(point_factories):
    """Field read and field write on a ``struct point`` per implementation."""
    def read(make):
        def build():
            p = make()
            p.x = 7
            return Case("p.x", {"p": p}, "p.x", 7)
        return build

    def write(make):
        return lambda: Case("p.x = 7", {"p": make()}, "p.x", 7)

    return [
        Row("read", "`p.x` (struct field read)",
            {impl: read(make) for impl, make in point_factories.items()}),
        Row("write", "`p.x = 7` (struct field write)",
            {impl: write(make) for impl, make in point_factories.items()}),
    ]


def new_row(ffis):
    def cffi_like(ffi):
        return lambda: Case('ffi.new("int[16]")', {"ffi": ffi},
                            'len(ffi.new("int[16]"))', 16)
    cases = {CTYPES: lambda: Case("(c_int * 16)()", {"c_int": ctypes.c_int},
                                  "len((c_int * 16)())", 16)}
    cases.update({impl: cffi_like(ffi) for impl, ffi in ffis.items()})
    return Row("new", '`ffi.new("int[16]")` / `(c_int * 16)()`', cases)


# --- timing -----------------------------------------------------------------

def make_timer(case):
    # Bind every name as a local of timeit's loop function: a global lookup
    # would add a dict probe that the user's own code would not pay.
    prefixed = {f"_bound_{k}": v for k, v in case.names.items()}
    setup = "\n".join(f"{k} = _bound_{k}" for k in case.names) or "pass"
    return timeit.Timer(case.stmt, setup=setup, globals=prefixed)


def calibrate(timer, target_s):
    """Loop count for one measurement of about ``target_s`` seconds."""
    loops = 1
    while True:
        took = timer.timeit(loops)
        if took >= 0.01 or loops >= 10**8:
            return max(1, math.ceil(loops * target_s / max(took, 1e-9)))
        loops *= 10


def verify(case):
    namespace = dict(case.names)
    exec(case.stmt, namespace)
    got = eval(case.check, namespace)
    if got != case.expected:
        raise Skip(f"wrong result: {case.check} gave {got!r}, expected {case.expected!r}")


def measure_row(row, repeats, target_s):
    timers = {}
    for impl, build in row.cases.items():
        try:
            case = build()
            verify(case)
            timers[impl] = make_timer(case)
        except Exception as e:
            if impl != FFI_PY and not isinstance(e, Skip):
                raise  # ctypes or cffi failing is a real error
            row.notes[impl] = describe(e)
            print(f"  {impl} skipped: {row.notes[impl]}")
    loops = {impl: calibrate(t, target_s) for impl, t in timers.items()}
    best = {impl: math.inf for impl in timers}
    for _ in range(repeats):
        for impl, timer in timers.items():
            best[impl] = min(best[impl], timer.timeit(loops[impl]) / loops[impl])
    row.ns = {impl: s * 1e9 for impl, s in best.items()}


def describe(error):
    if isinstance(error, Skip):
        return str(error)
    return f"{type(error).__name__}: {error}"


# --- qsort with a Python comparator ------------------------------------------

def make_cast_compare(ffi):
    """cffi-style comparator; ffi_py spells it the same way."""
    cast = ffi.cast

    def compare(a, b):
        x = cast("int *", a)[0]
        y = cast("int *", b)[0]
        return (x > y) - (x < y)
    return compare


def ctypes_compare(a, b):
    x = a[0]
    y = b[0]
    return (x > y) - (x < y)


def counting(compare, counter):
    def wrapper(a, b):
        counter[0] += 1
        return compare(a, b)
    return wrapper


class Sorter:
    """Sorts one implementation's int array: ``fill`` restores the unsorted
    data (untimed); ``sort(counted)`` runs qsort with the counting or the
    plain comparator."""

    def __init__(self, array, fill, sort):
        self.array, self.fill, self.sort = array, fill, sort


def ctypes_sorter(libc, compare_type, values):
    array = (ctypes.c_int * len(values))()
    plain = compare_type(ctypes_compare)
    counter = [0]
    counted_cb = compare_type(counting(ctypes_compare, counter))

    def fill():
        array[:] = values

    def sort(counted):
        libc.qsort(array, len(values), ctypes.sizeof(ctypes.c_int),
                   counted_cb if counted else plain)
        return counter[0]
    return Sorter(array, fill, sort)


def callback_sorter(ffi, lib, values):
    """cffi ABI mode and ffi_py: ``ffi.callback`` objects, the timed one
    made through the decorator spelling."""
    array = ffi.new(f"int[{len(values)}]")
    compare = make_cast_compare(ffi)
    counter = [0]
    signature = "int(const void *, const void *)"
    counted_cb = ffi.callback(signature, counting(compare, counter))
    plain = ffi.callback(signature)(compare)

    def fill():
        for i, v in enumerate(values):
            array[i] = v

    def sort(counted):
        lib.qsort(array, len(values), ffi.sizeof("int"), counted_cb if counted else plain)
        return counter[0]
    return Sorter(array, fill, sort)


def extern_python_sorter(ffi, lib, values):
    """cffi API mode: ``extern "Python"``; registering again replaces it."""
    array = ffi.new(f"int[{len(values)}]")
    compare = make_cast_compare(ffi)
    counter = [0]

    def sort(counted):
        ffi.def_extern(name=API_COMPARE)(counting(compare, counter) if counted else compare)
        lib.qsort(array, len(values), ffi.sizeof("int"), getattr(lib, API_COMPARE))
        return counter[0]

    def fill():
        array[0:len(values)] = values
    return Sorter(array, fill, sort)


def measure_qsort(row, builders, repeats):
    rng = random.Random(12345)
    values = [rng.randrange(-10**6, 10**6) for _ in range(SORT_LEN)]
    want = sorted(values)
    sorters, counts = {}, {}
    for impl, build in builders.items():
        try:
            sorter = build(values)
            sorter.fill()
            counts[impl] = sorter.sort(counted=True)
            got = [sorter.array[i] for i in range(SORT_LEN)]
            if got != want:
                raise Skip("qsort did not sort the array")
            if counts[impl] == 0:
                raise Skip("the comparator was never called")
            sorters[impl] = sorter
        except Exception as e:
            if impl != FFI_PY and not isinstance(e, Skip):
                raise
            row.notes[impl] = describe(e)
            print(f"  {impl} skipped: {row.notes[impl]}")
    if len(set(counts.values())) > 1:
        print(f"note: comparator call counts differ: {counts}")
    best = {impl: math.inf for impl in sorters}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            for impl, sorter in sorters.items():
                sorter.fill()
                started = time.perf_counter()
                sorter.sort(counted=False)
                best[impl] = min(best[impl], time.perf_counter() - started)
    finally:
        if gc_was_enabled:
            gc.enable()
    row.ns = {impl: best[impl] * 1e9 / counts[impl] for impl in sorters}
    row.comparisons = counts


# --- goals ------------------------------------------------------------------

# (row key, numerator impl, denominator (row key, impl), limit, text)
GOALS = [
    ("labs", FFI_PY, ("labs", CFFI_ABI), 0.35, "labs: ffi_py ÷ cffi ABI"),
    ("labs", FFI_PY, ("labs", CFFI_API), 1.0, "labs: ffi_py ÷ cffi API"),
    ("strlen", FFI_PY, ("strlen", CFFI_ABI), 0.35, "strlen: ffi_py ÷ cffi ABI"),
    ("strlen", FFI_PY, ("strlen", CFFI_API), 1.0, "strlen: ffi_py ÷ cffi API"),
    ("fabs", FFI_PY, ("fabs", CFFI_ABI), 0.35, "fabs: ffi_py ÷ cffi ABI"),
    ("fabs", FFI_PY, ("fabs", CFFI_API), 1.0, "fabs: ffi_py ÷ cffi API"),
    ("labs_gil", FFI_PY, ("abs", BUILTIN), 1.6, "labs with the GIL kept: ffi_py ÷ builtin abs(-5)"),
    ("div", FFI_PY, ("div", CFFI_ABI), 0.5, "div struct return: ffi_py ÷ cffi ABI"),
    ("read", FFI_PY, ("read", CFFI_ABI), 1.0, "struct field read: ffi_py ÷ cffi ABI"),
    ("write", FFI_PY, ("write", CFFI_ABI), 1.0, "struct field write: ffi_py ÷ cffi ABI"),
    ("new", FFI_PY, ("new", CFFI_ABI), 1.0, "new int[16]: ffi_py ÷ cffi ABI"),
    ("qsort", FFI_PY, ("qsort", CFFI_ABI), 0.4, "qsort per comparison (callback): ffi_py ÷ cffi ABI"),
]


def goal_lines(rows):
    by_key = {row.key: row for row in rows}
    lines = []
    for key, impl, (den_key, den_impl), limit, text in GOALS:
        num = by_key[key].ns.get(impl)
        den = by_key[den_key].ns.get(den_impl)
        if num is None or den is None:
            lines.append(f"{text}: n/a (goal ≤ {limit:g}×)")
            continue
        ratio = num / den
        # Judged at the printed precision, so "1.00× ... MISS" cannot appear.
        verdict = "PASS" if round(ratio, 2) <= limit else "MISS"
        lines.append(f"{text}: {ratio:.2f}× (goal ≤ {limit:g}×) {verdict}")
    return lines


# --- output -----------------------------------------------------------------

def fmt_ns(value):
    if value is None:
        return "—"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def ratio_cell(row, den_impl):
    num, den = row.ns.get(FFI_PY), row.ns.get(den_impl)
    return f"{num / den:.2f}×" if num is not None and den is not None else "—"


TABLE_HEAD = ["row (ns per operation)", *IMPLS, "ffi_py ÷ cffi ABI", "ffi_py ÷ cffi API"]


def table_cells(rows):
    return [[row.label, *(fmt_ns(row.ns.get(impl)) for impl in IMPLS),
             ratio_cell(row, CFFI_ABI), ratio_cell(row, CFFI_API)] for row in rows]


def print_table(rows):
    cells = [TABLE_HEAD, *table_cells(rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(TABLE_HEAD))]
    for n, line in enumerate(cells):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(line, widths))))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def markdown_table(rows):
    out = ["| " + " | ".join(TABLE_HEAD) + " |",
           "|---" + "|---:" * (len(TABLE_HEAD) - 1) + "|"]
    out += ["| " + " | ".join(line) + " |" for line in table_cells(rows)]
    return out


def machine():
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model}, {platform.system()} {platform.release()}"


def load_average():
    try:
        return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        return "unknown"


def write_markdown(path, info, rows, goals, notes, plot_path):
    region = [
        BEGIN_MARK,
        f"Command: `{info['command']}`",
        "",
        f"Python {info['python']}, cffi {info['cffi']}, ffi_py {info['ffi_py']}; "
        f"{info['date']}; {info['machine']}; load average {info['load_before']} before, "
        f"{info['load_after']} after. Best of {info['repeats']} measurements of "
        f"about {info['target_s']:g} s each; the empty timing loop costs "
        f"{info['empty_loop_ns']:.1f} ns per iteration, included in every figure. "
        f"The qsort row is the best sort time ÷ the comparator's "
        f"{info['comparisons']} calls.",
        "",
        *markdown_table(rows),
        "",
        "Goals:",
        "",
        *(f"- {line}" for line in goals),
    ]
    if notes:
        region += ["", "Not measured:", "", *(f"- {n}" for n in notes)]
    if plot_path:
        rel = os.path.relpath(plot_path, Path(path).resolve().parent)
        region += ["", f"![ns per operation, per implementation]({rel})"]
    region.append(END_MARK)
    replace_region(path, region, "## Python: ffi_py against ctypes and cffi")


def replace_region(path, region, heading):
    """Puts `region` (lines, its first and last the begin and end markers)
    in place of the file's region between those markers, or appends it
    under `heading` if the file has none."""
    begin, end = region[0], region[-1]
    path = Path(path)
    text = path.read_text() if path.exists() else ""
    lines = text.splitlines()
    if begin in lines and end in lines and lines.index(begin) < lines.index(end):
        lines[lines.index(begin):lines.index(end) + 1] = region
    else:
        if lines and lines[-1].strip():
            lines.append("")
        lines += [heading, "", *region]
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote the region {begin} of {path}")


def write_plot(path, rows):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot written")
        return False
    colours = {BUILTIN: "#7f7f7f", CTYPES: "#1f77b4", CFFI_ABI: "#ff7f0e",
               CFFI_API: "#2ca02c", FFI_PY: "#d62728"}
    bar = 0.8 / len(IMPLS)
    fig, ax = plt.subplots(figsize=(10, 0.75 * len(rows) + 1.5))
    rows = [row for row in rows if row.ns]  # e.g. the GIL row without ffi_py
    seen = set()
    for y, row in enumerate(rows):
        present = [impl for impl in IMPLS if impl in row.ns]
        for k, impl in enumerate(present):
            # Centre each row's bars on its tick, however many it has.
            offset = (k - (len(present) - 1) / 2) * bar
            value = row.ns[impl]
            ax.barh(y + offset, value, height=bar, color=colours[impl],
                    label=None if impl in seen else impl)
            ax.text(value * 1.03, y + offset, fmt_ns(value), va="center", fontsize=7)
            seen.add(impl)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([row.label.replace("`", "") for row in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")  # rows span ~20 ns to ~1 µs
    ax.set_xlabel("ns per operation (log scale; lower is better)")
    ax.set_title("Python → C call overhead, one process")
    handles, labels = ax.get_legend_handles_labels()
    order = [labels.index(i) for i in IMPLS if i in labels]
    ax.legend([handles[i] for i in order], [labels[i] for i in order],
              loc="upper right", fontsize=8)
    low = min(min(row.ns.values()) for row in rows)
    ax.set_xlim(low / 2, ax.get_xlim()[1] * 1.5)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")
    return True


# --- main -------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="fewer and shorter measurements (a smoke run)")
    ap.add_argument("--markdown", metavar="FILE",
                    help="rewrite the python-compare region of FILE with the results")
    ap.add_argument("--plot", metavar="FILE.png", help="write a bar chart")
    args = ap.parse_args()
    faulthandler.enable()  # a crash in a native module still says where

    repeats, target_s = (2, 0.04) if args.quick else (7, 0.2)
    root = Path(__file__).resolve().parents[2]
    target_dir = Path(os.environ.get("CARGO_TARGET_DIR", root / "target"))
    load_before = load_average()

    libc, CPoint, compare_type = setup_ctypes()
    abi_ffi, abi_lib = setup_cffi_abi()
    try:
        api_ffi, api_lib = build_cffi_api(target_dir)
    except Exception as e:
        sys.exit(f"building the cffi API-mode module failed: {type(e).__name__}: {e}")

    py_notes = []
    try:
        py_ffi, py_lib, py_version = setup_ffi_py()
        py_ready = True
    except Skip as e:
        py_version, py_ready = "not available", False
        py_notes.append(f"ffi_py: {e}")
        print(f"ffi_py skipped: {e}")

    libs = {CTYPES: libc, CFFI_ABI: abi_lib, CFFI_API: api_lib}
    ffis = {CFFI_ABI: abi_ffi, CFFI_API: api_ffi}
    if py_ready:
        libs[FFI_PY], ffis[FFI_PY] = py_lib, py_ffi

    def point_maker(ffi):
        return lambda: ffi.new("struct point *")

    points = {CTYPES: CPoint, **{impl: point_maker(f) for impl, f in ffis.items()}}

    gil_row = Row("labs_gil", "`labs(-5)`, GIL kept (`release_gil=False`)", {})
    if py_ready:
        def gil_kept_case():
            try:
                lib = py_ffi.dlopen(None, release_gil=False)
            except TypeError as e:
                raise Skip(f"the GIL opt-out row is unavailable: "
                           f"dlopen(None, release_gil=False) raised TypeError: {e}")
            return Case("lib.labs(-5)", {"lib": lib}, "lib.labs(-5)", 5)
        gil_row.cases[FFI_PY] = gil_kept_case

    rows = [
        Row("abs", "`abs(-5)` (builtin, reference)",
            {BUILTIN: lambda: Case("abs(-5)", {}, "abs(-5)", 5)}),
        scalar_row("labs", "`labs(-5)`", "labs(-5)", 5, libs),
        gil_row,
        scalar_row("strlen", f'`strlen(b"{TEXT.decode()}")`', f"strlen({TEXT!r})", len(TEXT), libs),
        scalar_row("fabs", "`fabs(-2.5)`", "fabs(-2.5)", 2.5, libs),
        scalar_row("div", "`div(7, 3).quot` (struct return)", "div(7, 3).quot", 2, libs),
        *struct_rows(points),
        new_row(ffis),
    ]
    qsort_row = Row("qsort", f"`qsort` of {SORT_LEN:,} ints, per comparison", {})
    rows.append(qsort_row)

    empty_loop_ns = min(timeit.repeat("pass", number=10**6, repeat=3)) * 1e3
    started = time.perf_counter()
    for row in rows[:-1]:
        print(f"timing {row.label.replace('`', '')} ...", flush=True)
        measure_row(row, repeats, target_s)

    print(f"timing {qsort_row.label.replace('`', '')} ...", flush=True)
    sort_builders = {
        CTYPES: lambda v: ctypes_sorter(libc, compare_type, v),
        CFFI_ABI: lambda v: callback_sorter(abi_ffi, abi_lib, v),
        CFFI_API: lambda v: extern_python_sorter(api_ffi, api_lib, v),
    }
    if py_ready:
        sort_builders[FFI_PY] = lambda v: callback_sorter(py_ffi, py_lib, v)
    measure_qsort(qsort_row, sort_builders, max(3, repeats))
    elapsed = time.perf_counter() - started

    for row in rows:
        for impl, why in row.notes.items():
            py_notes.append(f"{impl}, {row.label}: {why}")

    print()
    print_table(rows)
    print()
    goals = goal_lines(rows)
    print("Goals (ffi_py):")
    for line in goals:
        print("  " + line)
    if py_notes:
        print("\nNot measured:")
        for note in py_notes:
            print("  " + note)
    counts = getattr(qsort_row, "comparisons", {})
    comparisons = f"{min(counts.values()):,}" if counts else "?"
    print(f"\nempty timing loop: {empty_loop_ns:.1f} ns per iteration (included above); "
          f"qsort comparator calls: {comparisons}; timing took {elapsed:.0f} s; "
          f"load average {load_before} before, {load_average()} after")

    plotted = False
    if args.plot:
        plotted = write_plot(args.plot, rows)
    if args.markdown:
        command = " ".join(["python", "benches/python/compare.py",
                            *map(shlex.quote, sys.argv[1:])])
        info = {
            "command": command,
            "python": platform.python_version(),
            "cffi": cffi.__version__,
            "ffi_py": py_version,
            "date": datetime.date.today().isoformat(),
            "machine": machine(),
            "load_before": load_before,
            "load_after": load_average(),
            "repeats": repeats,
            "target_s": target_s,
            "empty_loop_ns": empty_loop_ns,
            "comparisons": comparisons,
        }
        write_markdown(args.markdown, info, rows, goals, py_notes,
                       args.plot if plotted else None)


if __name__ == "__main__":
    main()
