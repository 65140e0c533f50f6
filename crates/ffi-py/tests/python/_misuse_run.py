"""The misuse suite's fork server: `python _misuse_run.py MODULE` imports
MODULE (ffi_py, or cffi), then reads requests from stdin, one JSON line
each ({"source", "timeout", "env"}), and runs each source in a child forked
from this pristine process, answering one JSON line per request
({"status" or "signal", "stdout", "stderr", "pid"}).

Forking spares each case the interpreter's start-up (most of a case's cost,
and under valgrind, seconds); each case still has a process of its own, so
a crash or hang is that case's alone. The server itself never runs a case.
"""

import gc
import json
import os
import signal
import sys
import tempfile
import traceback


def run_child(source, timeout, env, out, err):
    """In the forked child: runs source as a program of its own, then exits
    through the interpreter's normal shutdown (finalizers run too)."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out.fileno(), 1)
    os.dup2(err.fileno(), 2)
    os.environ.update(env)
    # A hang ends with the kernel's SIGALRM, whatever the case is stuck in.
    signal.alarm(timeout)
    try:
        exec(compile(source, "<misuse case>", "exec"), {"__name__": "__main__"})
    except SystemExit:
        raise
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    sys.stdout.flush()
    raise SystemExit(0)


def read(file):
    file.seek(0)
    return file.read().decode(errors="replace")


def serve():
    for line in sys.stdin:
        request = json.loads(line)
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            pid = os.fork()
            if pid == 0:
                run_child(request["source"], request["timeout"], request["env"], out, err)
            _, status = os.waitpid(pid, 0)
            answer = {"pid": pid, "stdout": read(out), "stderr": read(err)}
        if os.WIFSIGNALED(status):
            answer["signal"] = os.WTERMSIG(status)
        else:
            answer["status"] = os.WEXITSTATUS(status)
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    __import__(sys.argv[1])
    if sys.argv[1] == "ffi_py":
        import ffi_py.raw  # noqa: F401  (what every case's prelude imports)
    # What the server made is never collected in a child: without this, each
    # child's collections would write to (and so copy) every page of it.
    gc.freeze()
    serve()
