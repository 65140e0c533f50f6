#!/usr/bin/env python3
"""Parse speed side by side: cffi's ``FFI().cdef(src)`` against
``ffi_typed::Declarations::parse`` on the same generated declaration set.

Setup (once, from the repository root; ``.venv`` is gitignored)::

    python3 -m venv .venv && .venv/bin/pip install cffi

Run::

    .venv/bin/python benches/python/cdef_speed.py [--repeat 5] [--iters 50] [--decls 2500]

What it does:

1. ``cargo run --release -p benches --example cdef_time -- --write <target>/cdef_bench.h``
   (``<target>`` is ``$CARGO_TARGET_DIR`` or ``target/``). The example
   generates the declarations (``benches/data/cdef_gen.rs``), writes them to
   that file, and times ``Declarations::new()`` + ``parse(src)`` itself, best
   and median of ``--iters`` runs.
2. Times ``cffi.FFI()`` + ``ffi.cdef(src)`` on the file's text, a fresh
   ``FFI`` each time, best and median of ``--repeat`` runs.
3. Prints both, the ratio, and a cross-check that both declared the same
   numbers of typedefs, structs/unions, functions and variables.
"""

import argparse
import collections
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path


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
    return f"{os.cpu_count()} x {model}, {platform.system()} {platform.release()}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5, help="cffi runs (best of)")
    ap.add_argument("--iters", type=int, default=50, help="ffi-typed runs (best of)")
    ap.add_argument("--decls", type=int, default=2500, help="generator size")
    args = ap.parse_args()

    root = Path(__file__).resolve().parents[2]
    target = Path(os.environ.get("CARGO_TARGET_DIR", root / "target"))
    target.mkdir(parents=True, exist_ok=True)
    header = target / "cdef_bench.h"
    cmd = [
        "cargo", "run", "--release", "-q", "-p", "benches",
        "--example", "cdef_time", "--",
        "--write", str(header),
        "--iters", str(args.iters),
        "--decls", str(args.decls),
    ]
    print("$", " ".join(cmd), file=sys.stderr)
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"cdef_time failed:\n{done.stderr}")
    ours = dict(kv.split("=", 1) for kv in done.stdout.split())
    src = header.read_text()

    import cffi
    import pycparser

    times = []
    ffi = None
    for _ in range(args.repeat):
        start = time.perf_counter()
        ffi = cffi.FFI()
        ffi.cdef(src)
        times.append(time.perf_counter() - start)

    # Cross-check: both parsers declared the same things.
    typedefs, structs, unions = ffi.list_types()
    kinds = collections.Counter(
        key.split(" ", 1)[0] for key in ffi._parser._declarations  # private, check only
    )
    checks = [
        ("typedefs", len(typedefs), int(ours["typedefs"])),
        ("functions", kinds["function"], int(ours["functions"])),
        ("variables", kinds["variable"], int(ours["variables"])),
        # ours["tags"] counts enums too; cffi's named enums are 'enum' keys.
        ("tags", len(structs) + len(unions) + kinds["enum"], int(ours["tags"])),
    ]

    cffi_best, cffi_median = min(times), statistics.median(times)
    our_best = int(ours["best_ns"]) / 1e9
    our_median = int(ours["median_ns"]) / 1e9
    print(f"machine: {machine()}")
    print(
        f"declaration set: {ours['decls']} declarations, {ours['bytes']} bytes ({header})"
    )
    print(
        f"cffi {cffi.__version__} (pycparser {pycparser.__version__}, Python "
        f"{platform.python_version()}): FFI().cdef  best of {len(times)}: "
        f"{cffi_best * 1e3:.1f} ms, median {cffi_median * 1e3:.1f} ms"
    )
    print(
        f"ffi-typed Declarations::parse             best of {ours['iters']}: "
        f"{our_best * 1e3:.2f} ms, median {our_median * 1e3:.2f} ms"
    )
    print(
        f"ratio: {cffi_best / our_best:.0f}x (best/best), "
        f"{cffi_median / our_median:.0f}x (median/median)"
    )
    mismatches = [c for c in checks if c[1] != c[2]]
    print(
        "cross-check (cffi/ours): "
        + ", ".join(f"{name} {a}/{b}" for name, a, b in checks)
        + ("" if not mismatches else "  MISMATCH")
    )
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
