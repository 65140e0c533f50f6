"""Each FFI method given the wrong kind of argument raises the exception
class cffi raises, and leaves the FFI usable."""

import pytest

from ffi_py import CDefError


@pytest.fixture
def setup(ffi):
    ffi.cdef("struct inc; long labs(long); extern int daylight;")
    return ffi, ffi.dlopen(None)


def assign(target, name, value):
    def do():
        setattr(target, name, value)
    return do


def set_item(target, index, value):
    def do():
        target[index] = value
    return do


CASES = [
    # (id, builder of the bad call, expected exception)
    ("new-non-type", lambda f, lib: f.new(5), TypeError),
    ("new-incomplete", lambda f, lib: f.new("struct inc *"), TypeError),
    ("new-negative-length", lambda f, lib: f.new("int[]", -1), ValueError),
    ("new-huge", lambda f, lib: f.new("char[]", 2**62), MemoryError),
    ("cast-non-type", lambda f, lib: f.cast(5, 0), TypeError),
    ("cast-to-struct", lambda f, lib: f.cast("struct inc", 0), TypeError),
    ("cast-to-function-type", lambda f, lib: f.cast("int(int)", 42), CDefError),
    ("cast-to-function-returning-array",
     lambda f, lib: f.cast("int(*)(int)[5]", 0), TypeError),
    ("typeof-function-returning-array", lambda f, lib: f.typeof("int(int)[2]"), TypeError),
    ("typeof-function-returning-function",
     lambda f, lib: f.typeof("int(*)(int)(int)"), CDefError),
    ("new-array-of-functions", lambda f, lib: f.new("int([5])(int)"), CDefError),
    ("string-non-cdata", lambda f, lib: f.string(b"abc"), TypeError),
    ("unpack-non-cdata", lambda f, lib: f.unpack(5, 1), TypeError),
    ("buffer-non-cdata", lambda f, lib: f.buffer(5), TypeError),
    ("from-handle-non-cdata", lambda f, lib: f.from_handle(5), TypeError),
    ("gc-non-cdata", lambda f, lib: f.gc(5, print), TypeError),
    ("release-non-cdata", lambda f, lib: f.release(5), TypeError),
    ("memmove-negative", lambda f, lib: f.memmove(f.new("char[4]"), b"ab", -1), ValueError),
    ("sizeof-void", lambda f, lib: f.sizeof("void"), ValueError),
    ("sizeof-incomplete", lambda f, lib: f.sizeof("struct inc"), ValueError),
    ("alignof-incomplete", lambda f, lib: f.alignof("struct inc"), ValueError),
    ("offsetof-non-struct", lambda f, lib: f.offsetof("int", "x"), TypeError),
    ("typeof-bad-syntax", lambda f, lib: f.typeof("int ***]"), CDefError),
    ("getctype-unknown", lambda f, lib: f.getctype("nosuch_t"), CDefError),
    ("callback-bad-syntax", lambda f, lib: f.callback("int(int", print), CDefError),
    ("callback-non-function", lambda f, lib: f.callback("int *", print), TypeError),
    ("cdef-non-string", lambda f, lib: f.cdef(123), TypeError),
    ("errno-non-int", lambda f, lib: assign(f, "errno", "x")(), TypeError),
    ("dlopen-flags-non-int", lambda f, lib: f.dlopen(None, "x"), TypeError),
    ("addressof-undeclared", lambda f, lib: f.addressof(lib, "strlen"), AttributeError),
    ("global-overflow", lambda f, lib: assign(lib, "daylight", 2**31)(), OverflowError),
    ("global-wrong-type", lambda f, lib: assign(lib, "daylight", "x")(), TypeError),
    ("item-overflow", lambda f, lib: set_item(f.new("int[2]"), 0, 2**31)(), OverflowError),
    ("item-wrong-type", lambda f, lib: set_item(f.new("int[2]"), 0, 1.5)(), TypeError),
    ("add-two-pointers", lambda f, lib: f.new("int[2]") + f.new("int[2]"), TypeError),
]


@pytest.mark.parametrize("bad_call, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_misuse_raises_the_cffi_exception_class(setup, bad_call, expected):
    ffi, lib = setup
    with pytest.raises(expected):
        bad_call(ffi, lib)
    # The FFI and the library still work after the error.
    assert lib.labs(-4) == 4
    assert ffi.new("int *", 3)[0] == 3


def test_dlclose_of_something_else_raises(ffi):
    # cffi raises AttributeError here, ffi_py TypeError.
    with pytest.raises((TypeError, AttributeError)):
        ffi.dlclose(5)


def test_init_once_runs_once_per_tag_across_threads(ffi):
    import threading
    import time

    calls = []

    def init():
        calls.append("start")
        time.sleep(0.05)
        calls.append("end")
        return len(calls)

    results = []
    threads = [threading.Thread(target=lambda: results.append(ffi.init_once(init, "a")))
               for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["start", "end"] and results == [2] * 6
    assert ffi.init_once(init, "b") == 4  # another tag runs again


def test_init_once_retries_after_an_exception(ffi):
    attempts = []

    def init():
        attempts.append(1)
        if len(attempts) == 1:
            raise KeyError("first try")
        return None  # None is a result like any other

    with pytest.raises(KeyError):
        ffi.init_once(init, "t")
    assert ffi.init_once(init, "t") is None
    assert ffi.init_once(init, "t") is None
    assert len(attempts) == 2
