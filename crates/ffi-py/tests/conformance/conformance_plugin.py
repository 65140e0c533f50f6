"""pytest plugin behind run.py: runs cffi's FFI-level tests against a chosen target.

Loaded with ``-p conformance_plugin``; run.py configures it through environment
variables (see ``_Settings``). It does four things:

1. **Binds the target.** The test files get their FFI class and exceptions with
   ``from cffi import FFI, CDefError, ...`` and compare against
   ``cffi.backend_ctypes.CTypesBackend``. For ``ffi_py`` we put a stand-in
   ``cffi`` package into ``sys.modules`` before any test module is imported,
   so those imports resolve to ffi_py's classes at import time (the
   module-level names end up bound to ffi_py's, with no source rewriting),
   and we make ``import _cffi_backend`` fail so real cffi cannot leak in.
   For ``cffi`` the real package is used unchanged. Either way, every test
   module's ``FFI`` global is checked after import, so a binding that did not
   take fails collection instead of silently testing the wrong library.

2. **Chooses the backend.** The tests build ``FFI(backend=self.Backend())``
   and compare ``repr(ffi.typeof(...))`` with ``self.TypeRepr``.
   ``BackendTests`` defines neither, and ``TestFunction``/``TestOwnLib`` set
   ``Backend = CTypesBackend`` (cffi's pure-Python fallback, which several
   tests skip themselves for). cffi's own ``test_ffi_backend.py`` reruns all
   three with ``_cffi_backend`` as the backend; we do the same per file,
   collecting each class as a subclass that sets ``Backend`` (the
   ``_cffi_backend`` module, or the ``ffi_py`` module) and ``TypeRepr``.
   Node ids keep the original file and class names, e.g.
   ``testing/cffi0/backend_tests.py::BackendTests::test_new_array_of_int``.

3. **Marks expected failures.** Tests listed in expected_failures.txt get a
   strict xfail marker, so pytest's own output stays readable; run.py decides
   pass/fail from the raw outcomes recorded below, not from pytest's verdict.

4. **Records raw outcomes** as JSON lines in an events file, flushed per
   test, so run.py can tell which test was running if the process dies (a
   crash in native code) and resume after it. A per-test watchdog
   (faulthandler) ends a hung process and writes where it hung.
"""

import faulthandler
import json
import os
import re
import sys
import types

import pytest

# Per file, the class whose tests are run; together they hold 186 tests.
CLASS_UNDER_TEST = {
    "backend_tests.py": "BackendTests",
    "test_function.py": "TestFunction",
    "test_ownlib.py": "TestOwnLib",
}

# repr() of a ctype object under cffi's C backend, which ffi_py matches.
C_BACKEND_TYPE_REPR = "<ctype '%s'>"

# The names the three files import from cffi.
EXPORTED_NAMES = ("FFI", "CDefError", "FFIError", "VerificationError", "VerificationMissing")


class _Settings:
    def __init__(self):
        env = os.environ
        self.target = env.get("FFI_PY_CONFORMANCE_TARGET", "ffi_py")
        if self.target not in ("cffi", "ffi_py"):
            raise pytest.UsageError("FFI_PY_CONFORMANCE_TARGET must be cffi or ffi_py")
        self.events_path = env.get("FFI_PY_CONFORMANCE_EVENTS")
        self.expected_failures_path = env.get("FFI_PY_CONFORMANCE_EXPECTED_FAILURES")
        self.already_run_path = env.get("FFI_PY_CONFORMANCE_ALREADY_RUN")
        self.test_timeout = float(env.get("FFI_PY_CONFORMANCE_TEST_TIMEOUT", "0") or 0)


class _Target:
    """What the tests are bound to: the FFI class, exceptions, and backend."""

    def __init__(self, name, exports, backend, version, missing):
        self.name = name
        self.exports = exports  # name -> object, for EXPORTED_NAMES
        self.backend = backend
        self.version = version
        self.missing = missing  # names the target failed to provide, with why


def _bind_cffi():
    import cffi
    import _cffi_backend

    exports = {name: getattr(cffi, name) for name in EXPORTED_NAMES}
    return _Target("cffi", exports, _cffi_backend, cffi.__version__, [])


def _missing_class(name, why):
    """A stand-in for something ffi_py lacks: using it fails with a clear message."""
    message = "ffi_py does not provide %s (%s)" % (name, why)
    if name == "FFI":

        def refuse(*args, **kwargs):
            raise NotImplementedError(message)

        return type(name, (), {"__init__": refuse, "__doc__": message})
    # A fresh exception type: pytest.raises(<it>, ...) then fails, as it should.
    return type(name, (Exception,), {"__doc__": message})


def _bind_ffi_py():
    missing = []
    try:
        import ffi_py
    except Exception as error:  # noqa: BLE001 - report any import failure
        ffi_py = None
        import_error = "import ffi_py failed: %s: %s" % (type(error).__name__, error)
        missing.append(("ffi_py", import_error))

    exports = {}
    for name in EXPORTED_NAMES:
        value = getattr(ffi_py, name, None) if ffi_py is not None else None
        if value is None:
            why = "not exported by the ffi_py module" if ffi_py is not None else "ffi_py not importable"
            if ffi_py is not None:
                missing.append((name, why))
            value = _missing_class(name, why)
        exports[name] = value

    # The stand-in cffi package. Its __path__ is empty, so importing any other
    # cffi submodule fails loudly instead of reaching the real cffi.
    shim = types.ModuleType("cffi", "conformance stand-in for cffi, bound to ffi_py")
    shim.__path__ = []
    shim.__dict__.update(exports)
    shim.__version__ = getattr(ffi_py, "__version__", "unknown")

    # Only compared by identity (`self.Backend is CTypesBackend`) to skip tests
    # that cffi's ctypes backend can't run; ours is never the backend in use.
    backend_ctypes = types.ModuleType("cffi.backend_ctypes")

    class CTypesBackend:
        def __init__(self):
            raise NotImplementedError("cffi's ctypes backend is not part of the ffi_py conformance run")

    backend_ctypes.CTypesBackend = CTypesBackend

    # testing/support.py imports load_dynamic, used only by helpers for
    # cffi's compiled (API) mode, which these three files never call.
    imp_emulation = types.ModuleType("cffi._imp_emulation")

    def load_dynamic(*args, **kwargs):
        raise NotImplementedError("cffi's API mode is not part of the ffi_py conformance run")

    imp_emulation.load_dynamic = load_dynamic

    shim.backend_ctypes = backend_ctypes
    shim._imp_emulation = imp_emulation
    sys.modules["cffi"] = shim
    sys.modules["cffi.backend_ctypes"] = backend_ctypes
    sys.modules["cffi._imp_emulation"] = imp_emulation
    sys.modules["_cffi_backend"] = None  # makes `import _cffi_backend` raise ImportError

    # Tests call FFI(backend=self.Backend()); ffi_py ignores the argument, but
    # test_dlopen_handle reads backend.RTLD_LAZY from it, as from _cffi_backend.
    version = getattr(ffi_py, "__version__", "unknown") if ffi_py is not None else "not importable"
    return _Target("ffi_py", exports, ffi_py, version, missing)


def _raw_phase_outcome(call):
    """passed / skipped / failed for one phase, before any xfail marker applies."""
    if call.excinfo is None:
        return "passed"
    skip_types = (pytest.skip.Exception, pytest.xfail.Exception)
    if call.excinfo.errisinstance(skip_types):
        return "skipped"
    return "failed"


def _short_reason(report, call):
    """One line saying why a phase did not pass."""
    if call.excinfo is None:
        return ""
    if call.excinfo.errisinstance((pytest.skip.Exception, pytest.xfail.Exception)):
        return str(call.excinfo.value.msg if hasattr(call.excinfo.value, "msg") else call.excinfo.value)
    text = call.excinfo.exconly().strip().splitlines()
    return text[0] if text else call.excinfo.typename


class ConformancePlugin:
    def __init__(self, settings):
        self.settings = settings
        self.target = None
        self.events = None
        self.watchdog_log = None
        self.expected = {}
        self.already_run = set()
        self.checked_modules = set()

    # -- events -----------------------------------------------------------

    def emit(self, **event):
        if self.events is None:
            return
        self.events.write(json.dumps(event) + "\n")
        self.events.flush()  # survive a crash of this process

    # -- setup ------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config):
        settings = self.settings
        if settings.events_path:
            self.events = open(settings.events_path, "a", encoding="utf-8")
            self.watchdog_log = open(settings.events_path + ".watchdog", "a", encoding="utf-8")
        if settings.expected_failures_path:
            self.expected = read_expected_failures(settings.expected_failures_path)
        if settings.already_run_path and os.path.exists(settings.already_run_path):
            with open(settings.already_run_path, encoding="utf-8") as ids:
                self.already_run = {line.strip() for line in ids if line.strip()}
        self.target = _bind_cffi() if settings.target == "cffi" else _bind_ffi_py()
        self.emit(
            event="target",
            name=self.target.name,
            version=self.target.version,
            missing=self.target.missing,
            python=sys.version.split()[0],
        )

    # -- collection ---------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_pycollect_makeitem(self, collector, name, obj):
        if not isinstance(collector, pytest.Module):
            return None
        wanted = CLASS_UNDER_TEST.get(collector.path.name)
        if wanted is None:
            return None
        if collector.nodeid not in self.checked_modules:
            self.checked_modules.add(collector.nodeid)
            self._check_binding(collector)
        if name != wanted or not isinstance(obj, type):
            return None
        backend = self.target.backend
        bound = type(
            name,
            (obj,),
            {
                # A staticmethod, as in cffi's test_ffi_backend.py, so that
                # `self.Backend()` and `self.__class__.Backend` both work.
                "Backend": staticmethod(lambda: backend),
                "TypeRepr": C_BACKEND_TYPE_REPR,
                "__module__": obj.__module__,
                "__qualname__": obj.__qualname__,
            },
        )
        # Rebind the module-level name too: pytest's Class node looks its
        # class up by name on the module.
        setattr(collector.obj, name, bound)
        return pytest.Class.from_parent(collector, name=name)

    def _check_binding(self, module_collector):
        module = module_collector.obj
        expected_ffi = self.target.exports["FFI"]
        if getattr(module, "FFI", expected_ffi) is not expected_ffi:
            raise RuntimeError(
                "%s: FFI is %r, not %s's; the rebinding did not take"
                % (module_collector.nodeid, module.FFI, self.target.name)
            )

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, session, config, items):
        # Runs before -k/-m deselection, so this is the full set of tests.
        self.emit(event="collected", nodeids=[item.nodeid for item in items])
        if self.already_run:
            keep = [item for item in items if item.nodeid not in self.already_run]
            dropped = [item for item in items if item.nodeid in self.already_run]
            if dropped:
                config.hook.pytest_deselected(items=dropped)
                items[:] = keep
        for item in items:
            reason = self.expected.get(item.nodeid)
            if reason is not None:
                item.add_marker(pytest.mark.xfail(reason="expected failure: " + reason, strict=True))

    def pytest_collectreport(self, report):
        if report.failed:
            self.emit(event="collect_error", nodeid=report.nodeid, reason=_first_line(report.longreprtext))

    # -- running ------------------------------------------------------------

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        self.emit(event="start", nodeid=item.nodeid)
        if self.settings.test_timeout > 0 and self.watchdog_log is not None:
            # exit=True: a hung test must not hang `cargo xtask test`.
            faulthandler.dump_traceback_later(self.settings.test_timeout, exit=True, file=self.watchdog_log)
        try:
            yield
        finally:
            if self.settings.test_timeout > 0:
                faulthandler.cancel_dump_traceback_later()
        self.emit(event="finish", nodeid=item.nodeid)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        self.emit(
            event="phase",
            nodeid=item.nodeid,
            when=call.when,
            outcome=_raw_phase_outcome(call),
            reason=_short_reason(report, call),
        )

    def pytest_sessionfinish(self, session, exitstatus):
        self.emit(event="sessionfinish", exitstatus=int(exitstatus))
        if self.events is not None:
            self.events.close()
            self.events = None

    def pytest_unconfigure(self, config):
        if self.watchdog_log is not None:
            self.watchdog_log.close()
            self.watchdog_log = None


def _first_line(text):
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def read_expected_failures(path):
    """node id -> reason, from the expected-failures file (format in its header)."""
    expected = {}
    with open(path, encoding="utf-8") as listing:
        for number, line in enumerate(listing, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            node_id, separator, reason = line.partition(" # ")
            node_id, reason = node_id.strip(), reason.strip()
            if not separator or not reason:
                raise ValueError("%s:%d: expected '<node id>  # <reason>', got %r" % (path, number, line))
            if node_id in expected:
                raise ValueError("%s:%d: %s is listed twice" % (path, number, node_id))
            below = re.match(r"\[python < (\d+)\.(\d+)\] ", reason)
            if below and sys.version_info[:2] >= (int(below.group(1)), int(below.group(2))):
                continue  # expected to pass on this Python
            expected[node_id] = reason
    return expected


def pytest_configure(config):
    # Loaded via -p; the stateful plugin object gets pytest_configure itself
    # (a historic hook), right when it is registered here.
    if not config.pluginmanager.has_plugin("conformance-plugin-state"):
        config.pluginmanager.register(ConformancePlugin(_Settings()), "conformance-plugin-state")
