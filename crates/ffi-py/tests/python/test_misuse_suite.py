"""Misuse never crashes: every case of _misuse_cases.py (wrong use of the
whole API, `ffi_py.raw` included) runs in a process of its own, so a crash,
hang or abort fails that one case and the run goes on. A case passes when
its process exits normally having seen the exception class it expects (and
the message fragment, if it names one) and the FFI still works afterwards.

The processes are forked from fork servers (_misuse_run.py), which import
the module once: FFI_PY_MISUSE_JOBS servers (default: two per CPU, one per
CPU under valgrind) work through all selected cases at once, and each test
waits for its own. With FFI_PY_MISUSE_VALGRIND=1 the servers run under
valgrind (`cargo xtask test` does this for the cases marked `valgrind`:
`-m valgrind`), and any valgrind error in a case's process fails it.
"""

import concurrent.futures
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from _misuse_cases import CASES, DECLS
from _support import ON_CFFI
from conftest import HELPER_DECLS

HERE = Path(__file__).resolve().parent
VALGRIND = os.environ.get("FFI_PY_MISUSE_VALGRIND") == "1"
VALGRIND_ERROR = 97  # valgrind's exit status when it found errors
DEFAULT_TIMEOUT = 60  # seconds; generous, since CI runs several suites at once
VALGRIND_TIMEOUT = 600
RESULT_MARK = "@@misuse-result@@"

# The child's code around a case: the names the case may use, then the
# case, then the verdict printed as one JSON line after RESULT_MARK.
PRELUDE = r"""
import gc, json, os, sys, traceback
if ON_CFFI:
    import cffi
    FFI, CDefError, FFIError = cffi.FFI, cffi.CDefError, cffi.FFIError
    VerificationMissing, raw = cffi.VerificationMissing, None
else:
    from ffi_py import FFI, CDefError, FFIError, VerificationMissing, raw

unraisable = []
sys.unraisablehook = lambda u: unraisable.append((u.exc_type, str(u.exc_value)))

class _Skip(Exception):
    pass

def skip(reason):
    raise _Skip(reason)

ffi = FFI()
ffi.cdef(DECLS)
lib = ffi.dlopen(None)

def open_helper():
    ffi.cdef(HELPER_DECLS)
    return ffi.dlopen(os.environ["FFI_PY_MISUSE_HELPER"])
"""

VERDICT = r"""
def _name(cls):
    return cls.__module__ + "." + cls.__qualname__

_result = {"raised": None, "message": None}
_namespace = dict(globals())
try:
    exec(compile(CODE, "<misuse case>", "exec"), _namespace)
except _Skip as e:
    _result["skip"] = str(e)
except BaseException as e:
    _result["raised"], _result["message"] = _name(type(e)), str(e)[:2000]
    _lines = [f.lineno for f in traceback.extract_tb(e.__traceback__)
              if f.filename == "<misuse case>"]
    if _lines:
        _result["line"] = CODE.splitlines()[_lines[-1] - 1].strip()
    _expected = eval(EXPECTED, _namespace) if EXPECTED else None
    _result["ok"] = _expected is not None and isinstance(e, _expected) and (
        ON_CFFI or MATCH is None or MATCH in str(e))
    del e
else:
    _result["ok"] = EXPECTED is None
_namespace.clear()
# Whatever the case did, the FFI still works and its objects can be freed.
try:
    gc.collect()
    assert lib.labs(-4) == 4 and ffi.new("int *", 3)[0] == 3
    gc.collect()
except BaseException as e:
    _result["after"] = repr(e)
_result["unraisable"] = [(_name(t), m[:200]) for t, m in unraisable]
print("\n" + RESULT_MARK + json.dumps(_result), flush=True)
"""


def child_source(case):
    """The whole program a case runs: paste it into a file to reproduce."""
    setup = "\n".join(f"{name} = {value!r}" for name, value in [
        ("ON_CFFI", ON_CFFI), ("DECLS", DECLS), ("HELPER_DECLS", HELPER_DECLS),
        ("RESULT_MARK", RESULT_MARK), ("CODE", case.code), ("EXPECTED", case.raises),
        ("MATCH", case.match),
    ])
    return setup + "\n" + PRELUDE + VERDICT


class Server:
    """One fork server (_misuse_run.py) and the pipe to it."""

    def __init__(self, helper_path):
        self.helper_path = helper_path
        self.process = None
        self.logs = None

    def start(self):
        module = "cffi" if ON_CFFI else "ffi_py"
        command = [sys.executable, str(HERE / "_misuse_run.py"), module]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        if VALGRIND:
            # Every child writes its own log (%p: its pid), read after it ends.
            self.logs = tempfile.mkdtemp(prefix="misuse-valgrind-")
            env["PYTHONMALLOC"] = "malloc"  # valgrind sees each object's own block
            command = ["valgrind", "-q", f"--error-exitcode={VALGRIND_ERROR}",
                       "--errors-for-leak-kinds=none",
                       f"--log-file={self.logs}/%p.log"] + command
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env=env, text=True)

    def run(self, case):
        """Runs one case; returns the server's answer (see _misuse_run.py),
        with "valgrind" (the child's valgrind log) under valgrind."""
        if self.process is None or self.process.poll() is not None:
            self.stop()
            self.start()
        timeout = case.timeout or DEFAULT_TIMEOUT
        if VALGRIND:  # about 20 times slower
            timeout = 20 * case.timeout if case.timeout else VALGRIND_TIMEOUT
        env = {"FFI_PY_MISUSE_HELPER": str(self.helper_path)} if self.helper_path else {}
        request = {"source": child_source(case), "timeout": timeout, "env": env}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:  # the server itself died: start another for the next case
            self.process.wait()
            return {"server_died": self.process.returncode, "stdout": "", "stderr": ""}
        answer = json.loads(line)
        answer["timeout"] = timeout
        if VALGRIND:
            log = Path(self.logs) / f"{answer['pid']}.log"
            answer["valgrind"] = log.read_text(errors="replace") if log.exists() else ""
        return answer

    def stop(self):
        if self.process is not None:
            self.process.stdin.close()  # the server ends at the end of its input
            self.process.wait()
            self.process.stdout.close()
            self.process = None
        if self.logs:
            shutil.rmtree(self.logs, ignore_errors=True)
            self.logs = None


class Runner:
    """Starts every selected case at once on a pool of fork servers; a test
    waits for its own."""

    def __init__(self):
        self.lock = threading.Lock()
        self.futures = None
        self.servers = []
        self.local = threading.local()

    def result(self, request, case):
        with self.lock:
            if self.futures is None:
                self.start(request)
            return self.futures[case.id]

    def run(self, case):
        server = getattr(self.local, "server", None)
        if server is None:
            server = self.local.server = Server(self.helper_path)
            with self.lock:
                self.servers.append(server)
        return server.run(case)

    def start(self, request):
        selected = [item.callspec.params["case"] for item in request.session.items
                    if item.originalname == "test_misuse_never_crashes"
                    and not item.get_closest_marker("skip")]
        needs_helper = any(c.helper for c in selected)
        self.helper_path = request.getfixturevalue("helper_path") if needs_helper else None
        # Two servers per CPU: a case that hangs holds its server until the
        # alarm, and the others go on meanwhile. Under valgrind one per CPU:
        # a server's start-up costs seconds there, and no case marked for
        # valgrind is expected to hang.
        cpus = os.cpu_count() or 1
        jobs = int(os.environ.get("FFI_PY_MISUSE_JOBS", cpus if VALGRIND else 2 * cpus))
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs))
        # Slow cases first, so that they do not finish last.
        ordered = sorted(selected, key=lambda c: -(c.timeout or 0))
        self.futures = {c.id: pool.submit(self.run, c) for c in ordered}
        pool.shutdown(wait=False)
        request.session.config.add_cleanup(self.stop)

    def stop(self):
        for server in self.servers:
            server.stop()


RUNNER = Runner()


def case_param(case):
    marks = []
    if case.ffi_py_only:
        marks.append(pytest.mark.ffi_py_only)
    if case.valgrind:
        marks.append(pytest.mark.valgrind)
    if case.xfail:
        marks.append(pytest.mark.xfail(strict=False, reason=case.xfail))
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [case_param(c) for c in CASES])
def test_misuse_never_crashes(request, case):
    answer = RUNNER.result(request, case).result()
    reproduce = f"\n--- reproduce: python -c <this program> ---\n{child_source(case)}"
    tail = answer["stderr"][-3000:]
    if answer.get("valgrind"):
        tail += "\nvalgrind's log:\n" + answer["valgrind"][:6000]
    if "server_died" in answer:
        pytest.fail(f"the fork server died (status {answer['server_died']}){reproduce}")
    if answer.get("signal") == signal.SIGALRM:
        pytest.fail(f"hung: no result within {answer['timeout']} s\n{tail}{reproduce}")
    if VALGRIND and answer.get("status") == VALGRIND_ERROR:
        pytest.fail(f"valgrind found memory errors\n{tail}{reproduce}")
    if "signal" in answer:
        name = signal.Signals(answer["signal"]).name
        pytest.fail(f"crashed: killed by {name}\n{tail}{reproduce}")
    lines = [line for line in answer["stdout"].splitlines() if line.startswith(RESULT_MARK)]
    if answer["status"] != 0 or not lines:
        pytest.fail(f"exited with status {answer['status']} without a verdict\n{tail}{reproduce}")
    result = json.loads(lines[-1][len(RESULT_MARK):])
    if "skip" in result:
        pytest.skip(result["skip"])
    raised = result["raised"]
    what = f"raised {raised}: {result['message']}" if raised else "raised nothing"
    if raised and "line" in result:
        what += f"\n  at: {result['line']}"
    expected = case.raises or "no exception"
    if case.match and not ON_CFFI:
        expected += f" with {case.match!r} in its message"
    assert result["ok"], f"expected {expected}, {what}\n{tail}"
    assert "after" not in result, f"the FFI no longer works after the case: {result['after']}"
