"""ffi.errno: the errno a C call left behind, per thread, and the errno the
next C call starts with."""

import errno
import threading

import pytest


def test_close_of_a_bad_descriptor_sets_ebadf(ffi, libc):
    ffi.errno = 0
    assert libc.close(-1) == -1
    assert ffi.errno == errno.EBADF


def test_strtol_overflow_sets_erange(ffi, libc):
    ffi.errno = 0
    assert libc.strtol(b"99999999999999999999999", ffi.NULL, 10) == 2**63 - 1
    assert ffi.errno == errno.ERANGE
    assert libc.strtol(b"-99999999999999999999999", ffi.NULL, 10) == -(2**63)
    assert ffi.errno == errno.ERANGE


def test_errno_set_from_python_is_what_the_next_call_starts_with(ffi, libc):
    # labs leaves errno alone, so the value after the call is the one C
    # started with.
    ffi.errno = errno.EAGAIN
    assert ffi.errno == errno.EAGAIN
    libc.labs(-1)
    assert ffi.errno == errno.EAGAIN
    ffi.errno = 0
    libc.labs(-1)
    assert ffi.errno == 0


def test_errno_survives_python_work_between_call_and_read(ffi, libc):
    libc.close(-1)
    # Python code that itself touches errno (a failing open) in between.
    try:
        open("/nonexistent/file/for/errno")
    except OSError:
        pass
    assert ffi.errno == errno.EBADF


def test_c_sees_the_errno_set_from_python(ffi):
    ffi.cdef("int *__errno_location(void);")
    lib = ffi.dlopen(None)
    ffi.errno = 11
    location = getattr(lib, "__errno_location")
    assert location()[0] == 11


def test_errno_is_per_thread(ffi, libc):
    ffi.errno = 0
    barrier = threading.Barrier(2)
    results = {}

    def ebadf():
        libc.close(-1)
        barrier.wait()  # the other thread now makes its own failing call
        barrier.wait()
        results["ebadf"] = ffi.errno

    def erange():
        barrier.wait()
        libc.strtol(b"99999999999999999999999", ffi.NULL, 10)
        barrier.wait()
        results["erange"] = ffi.errno

    threads = [threading.Thread(target=ebadf), threading.Thread(target=erange)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"ebadf": errno.EBADF, "erange": errno.ERANGE}
    assert ffi.errno == 0  # the main thread's errno is untouched


def test_errno_is_shared_by_ffi_instances_in_a_thread(ffi, libc):
    from ffi_py import FFI

    other = FFI()
    libc.close(-1)
    assert other.errno == errno.EBADF
