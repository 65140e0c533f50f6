#!/usr/bin/env python3
"""Instructions per operation of ffi_py in two environments, side by side:
two builds of the extension (say, before and after a change), each
installed in its own venv.

Run from benches/python::

    python instructions_ab.py NAME=PYTHON NAME=PYTHON [--reps N]

Each PYTHON is a venv's interpreter with ffi_py installed. The rows are
instructions.py's (its per_operation and per_comparison, under callgrind),
ffi_py's side only; the environments alternate within each repetition, so
both see the same machine. PYTHONHASHSEED is fixed; what is left moving
between repetitions (a few percent on some rows) is the interpreter's
own, so compare ranges, not single figures.
"""

import argparse
import os

import instructions

KEYS = ("labs", "fabs", "div", "read", "write")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("envs", nargs=2, metavar="NAME=PYTHON")
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args()
    os.environ["PYTHONHASHSEED"] = "0"
    statements = {key: stmt for key, _, stmt in instructions.ROWS}
    envs = [env.split("=", 1) for env in args.envs]
    print("env rep " + " ".join(KEYS) + " qsort")
    for rep in range(args.reps):
        for name, python in envs:
            counts = [instructions.per_operation(python, "ffi_py", statements[key])
                      for key in KEYS]
            counts.append(instructions.per_comparison(python, "ffi_py"))
            print(name, rep, " ".join(f"{c:.0f}" for c in counts), flush=True)


if __name__ == "__main__":
    main()
