"""Helpers shared by the test modules (conftest.py holds the fixtures)."""

import threading
import time

import ffi_py

# True when the suite runs with --against cffi (see conftest.py).
ON_CFFI = getattr(ffi_py, "ON_CFFI", False)


def message_has(excinfo, *fragments):
    """Checks that the exception's message contains every fragment.

    The wording is ffi_py's (cffi words its messages differently), so the
    check is skipped when the suite runs against cffi; the exception class
    is still checked there by pytest.raises.
    """
    if ON_CFFI:
        return
    message = str(excinfo.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def run_python(code, timeout=60):
    """Runs code in a fresh interpreter (for tests whose failure mode is a
    crash). Inside, `import ffi_py` is whatever the suite runs against."""
    import os
    import subprocess
    import sys

    if ON_CFFI:
        code = (
            "import sys, types, cffi\n"
            "m = types.ModuleType('ffi_py')\n"
            "m.FFI, m.CDefError, m.FFIError = cffi.FFI, cffi.CDefError, cffi.FFIError\n"
            "sys.modules['ffi_py'] = m\n"
        ) + code
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env,
        timeout=timeout,
    )


def longest_stall_during(call):
    """Runs call() while another Python thread spins, and returns the
    longest time (seconds) the spinner went without running."""
    stop = threading.Event()
    started = threading.Event()
    worst = []

    def spin():
        last = time.perf_counter()
        longest = 0.0
        started.set()
        while not stop.is_set():
            now = time.perf_counter()
            longest = max(longest, now - last)
            last = now
        worst.append(longest)

    spinner = threading.Thread(target=spin)
    spinner.start()
    started.wait()
    time.sleep(0.02)
    call()
    stop.set()
    spinner.join()
    return worst[0]
