"""Misuse that used to touch freed or uninitialised memory: buffers of
released memory, callbacks freed while they run, allocators returning what
is not memory, lengths past a known end, structs passed by value from a
partial initializer.

Each test does its work in this process, so that running the suite under
valgrind (`-m valgrind`, with PYTHONMALLOC=malloc) checks it; each also
asserts what it can see without valgrind.
"""

import gc
import sys
import weakref

import pytest

from _support import ON_CFFI, message_has

needs_buffer_protocol = pytest.mark.skipif(
    sys.version_info < (3, 12) and not ON_CFFI,
    reason="ffi_py exports the buffer protocol from CPython 3.12 (PEP 688)",
)


def churn(ffi, size, fill):
    """Allocates and frees blocks of `size` bytes, so that freed memory of
    that size gets reused (and visibly overwritten)."""
    for _ in range(20):
        ffi.new("char[]", fill * (size - 1))


# Item 1: a buffer holds the memory it shows, as derived cdata do.


@pytest.mark.valgrind
@pytest.mark.parametrize("size", [16, 4096, 1 << 20])
def test_buffer_keeps_memory_after_release(ffi, size):
    original = bytes(range(256)) * (size // 256) or bytes(range(size))
    p = ffi.new("char[]", size)
    ffi.memmove(p, original, size)
    buf = ffi.buffer(p)
    ffi.release(p)
    churn(ffi, size, b"\xee")
    assert buf[:] == original
    buf[0:4] = b"abcd"
    assert buf[0:4] == b"abcd" and bytes(buf)[4:] == original[4:]


@pytest.mark.valgrind
def test_buffer_keeps_memory_after_with_block(ffi):
    with ffi.new("int[100]", list(range(100))) as p:
        buf = ffi.buffer(p)
    churn(ffi, 400, b"\xee")
    assert buf[396:400] == (99).to_bytes(4, "little")
    buf[:] = bytes(400)
    assert bytes(buf) == bytes(400)


@pytest.mark.valgrind
@needs_buffer_protocol
def test_memoryview_of_buffer_keeps_memory_after_release(ffi):
    p = ffi.new("int[1000]", list(range(1000)))
    view = memoryview(ffi.buffer(p))
    ffi.release(p)
    churn(ffi, 4000, b"\xee")
    assert view[4:8].tobytes() == (1).to_bytes(4, "little")
    view[0:4] = b"abcd"
    assert view[0:4].tobytes() == b"abcd"


@pytest.mark.valgrind
@pytest.mark.ffi_py_only
def test_buffer_of_released_c_memory_refuses_access(ffi, libc):
    freed = []

    def free(ptr):
        freed.append(True)
        libc.free(ptr)

    p = ffi.gc(libc.malloc(64), free)
    buf = ffi.buffer(p, 64)
    buf[0:2] = b"ok"
    ffi.release(p)
    assert freed == [True]
    for access in (lambda: buf[0], lambda: bytes(buf), lambda: buf == b"",
                   lambda: buf.__setitem__(0, b"x")):
        with pytest.raises(ValueError) as excinfo:
            access()
        message_has(excinfo, "has been released")


# Item 2: a callback released (or dropped) while C runs it.


class Counter:
    def __init__(self, release):
        self.release, self.alive_after_release = release, None

    def method(self, *args):
        this = self.cb_method
        self.release()
        # The callable itself (this bound method, held only by the
        # callback) must live until the call returns.
        self.alive_after_release = this() is not None
        return 0


@pytest.mark.valgrind
@pytest.mark.ffi_py_only
@pytest.mark.parametrize("how", ["release", "with", "last-reference"])
def test_callback_freed_by_itself_while_c_runs_it(ffi, libc, how):
    key = ffi.new("int *", 5)
    base = ffi.new("int[1]", [5])
    holder = {}

    def release():
        if how == "release":
            ffi.release(holder["cb"])
        elif how == "with":
            with holder["cb"]:
                pass
        else:
            del holder["cb"]

    counter = Counter(release)
    method = counter.method
    counter.cb_method = weakref.ref(method)
    holder["cb"] = ffi.callback("int(const void *, const void *)", method)
    del method
    # A cast does not keep the callback alive: C holds the only pointer.
    pointer = ffi.cast("int(*)(const void *, const void *)", holder["cb"])
    # bsearch over one item compares exactly once.
    found = libc.bsearch(key, base, 1, ffi.sizeof("int"), pointer)
    assert found != ffi.NULL
    assert counter.alive_after_release is True
    gc.collect()
    assert counter.cb_method() is None  # freed once the call returned


@pytest.mark.valgrind
@pytest.mark.ffi_py_only
def test_callback_released_by_itself_when_called_from_python(ffi):
    counter = Counter(lambda: ffi.release(cb))
    method = counter.method
    counter.cb_method = weakref.ref(method)
    cb = ffi.callback("int(int)", method)
    del method
    assert cb(3) == 0
    assert counter.alive_after_release is True
    assert counter.cb_method() is None
    with pytest.raises(ValueError):
        cb(3)


@pytest.mark.valgrind
@pytest.mark.ffi_py_only
def test_raw_callback_dropped_by_itself_while_c_runs_it():
    from ffi_py import raw

    holder = []
    counter = Counter(holder.clear)
    method = counter.method
    counter.cb_method = weakref.ref(method)
    holder.append(raw.Callback(method, ["ptr", "ptr"], "i32"))
    del method
    call = raw.Function(holder[0].address, ["ptr", "ptr"], "i32")
    assert call(0, 0) == 0
    assert holder == [] and counter.alive_after_release is True
    assert counter.cb_method() is None


# Item 3: what an allocator's alloc() may return.


@pytest.mark.valgrind
def test_allocator_returning_an_int_is_refused(ffi, libc):
    block = ffi.new("char[64]")
    address = int(ffi.cast("uintptr_t", block))
    new = ffi.new_allocator(lambda size: address)
    with pytest.raises(TypeError) as excinfo:
        new("int[4]")
    message_has(excinfo, "must return a cdata object", "int")


@pytest.mark.valgrind
def test_allocator_returning_a_number_cdata_is_refused(ffi):
    new = ffi.new_allocator(lambda size: ffi.cast("long", 64))
    with pytest.raises(TypeError) as excinfo:
        new("int[4]")
    message_has(excinfo, "must return a cdata pointer", "long")


@pytest.mark.valgrind
@pytest.mark.ffi_py_only
@pytest.mark.parametrize("returned", ["char[2]", "char[15]", "past-the-end"])
def test_allocator_returning_too_small_a_block_is_refused(ffi, returned):
    keep = ffi.new("char[16]")

    def alloc(size):
        if returned == "past-the-end":
            return keep + 8  # 8 of the 16 bytes are left
        return ffi.new(returned)

    new = ffi.new_allocator(alloc)
    with pytest.raises(ValueError) as excinfo:
        new("int[4]", [1, 2, 3, 4])
    message_has(excinfo, "16 are needed")


@pytest.mark.valgrind
def test_allocator_returning_enough_memory_is_used(ffi, libc):
    blocks = []

    def alloc(size):
        blocks.append(ffi.new("char[]", size))
        return blocks[-1]

    new = ffi.new_allocator(alloc)
    a = new("int[4]", [1, 2, 3, 4])
    assert list(a) == [1, 2, 3, 4]
    assert list(ffi.cast("int *", blocks[0])[0:4]) == [1, 2, 3, 4]
    # `a` holds the block, as any cdata derived from it does.
    ffi.release(blocks.pop())
    churn(ffi, 16, b"\xee")
    assert list(a) == [1, 2, 3, 4]
    from_c = ffi.new_allocator(libc.malloc, libc.free)
    assert list(from_c("int[3]", [7, 8, 9])) == [7, 8, 9]


# Item 7: lengths past a known end.


@pytest.mark.valgrind
@pytest.mark.ffi_py_only
def test_buffer_longer_than_known_memory_is_refused(ffi):
    arr = ffi.new("int[4]")
    assert len(ffi.buffer(arr, 16)) == 16
    cases = [
        (arr, 17),                                  # past the array
        (arr + 2, 9),                               # past new's memory
        (ffi.cast("char *", arr), 17),              # a cast keeps the bound
        (arr + 4, -1),                              # at the end: sizeof(int)
        (ffi.new("struct { int a[2]; int b; } *").a, 9),  # past a member array
    ]
    for cdata, size in cases:
        with pytest.raises(ValueError) as excinfo:
            ffi.buffer(cdata, size)
        message_has(excinfo, "bytes requested")
    assert len(ffi.buffer(arr + 2, 8)) == 8
    assert len(ffi.buffer(arr + 4, 0)) == 0


@pytest.mark.valgrind
@pytest.mark.ffi_py_only
def test_memmove_past_a_known_end_is_refused(ffi):
    small = ffi.new("char[4]", b"abc")
    big = ffi.new("char[32]", b"x" * 31)
    cases = [
        (small, b"y" * 32, 32, "destination"),
        (small + 2, b"yyy", 3, "destination"),
        (big, small, 32, "source"),
        (big, small + 1, 4, "source"),
    ]
    for dest, src, n, which in cases:
        with pytest.raises(ValueError) as excinfo:
            ffi.memmove(dest, src, n)
        message_has(excinfo, which, f"{n} requested")
    assert ffi.string(small) == b"abc" and ffi.string(big) == b"x" * 31
    ffi.memmove(big, small, 4)
    ffi.memmove(small + 1, b"zz", 2)
    assert ffi.string(big) == b"abc" and ffi.string(small) == b"azz"


# Item 8: a struct by value from a partial initializer.


@pytest.mark.valgrind
@pytest.mark.ffi_py_only
@pytest.mark.parametrize("partial", [{"tag": 1}, [1]], ids=["dict", "short-list"])
def test_struct_by_value_from_partial_initializer_is_zero_filled(helper, partial):
    lib = helper
    # The first call leaves 21 where the second builds its argument.
    assert lib.helper_swap_pair({"tag": 3, "value": 21}).value == 42
    out = lib.helper_swap_pair(partial)
    assert (out.tag, out.value) == (-1, 0)


@pytest.mark.valgrind
@pytest.mark.ffi_py_only
def test_big_struct_by_value_from_partial_initializer_is_zero_filled(ffi, helper):
    lib = helper
    full = {"d": [1.0, 2.0, 3.0], "i": 7, "tag": b"abcd"}
    assert list(lib.helper_big_scale(full, 2.0).d) == [2.0, 4.0, 6.0]
    out = lib.helper_big_scale({"i": 7}, 2.0)
    assert (list(out.d), out.i) == ([0.0, 0.0, 0.0], -7)
    assert ffi.unpack(out.tag, 5) == b"S\0\0\0\0"


# A handle's address names a Python object; its bytes are not memory to
# show or write (found by the Python API fuzz target: buffer(handle, 2**32)
# read far past the object).


@pytest.mark.ffi_py_only  # cffi lets C-level access through a handle happen
@pytest.mark.valgrind
def test_handle_bytes_are_not_memory(ffi):
    h = ffi.new_handle(object())
    with pytest.raises(ValueError):
        ffi.buffer(h, 4096)
    with pytest.raises(ValueError):
        ffi.memmove(h, b"x" * 64, 64)
    assert ffi.from_handle(h) is not None
