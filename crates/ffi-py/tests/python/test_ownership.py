"""Who keeps C memory alive: cdata from ffi.new and what is derived from it,
`with` blocks and ffi.release, ffi.gc destructors, ffi.new_allocator, and
handles (ffi.new_handle / ffi.from_handle)."""

import gc
import weakref

import pytest

from ffi_py import FFIError

SIZE = 1000  # ints: a 4000-byte block, big enough to be recycled at once
PATTERN = [(i * 2654435761) % 2**31 for i in range(SIZE)]


def churn(ffi):
    """Allocates (and keeps) blocks of the same size, zero-filled: if a
    block had been freed, one of these would reuse it and zero it."""
    return [ffi.new("int[]", SIZE) for _ in range(64)]


def collect():
    for _ in range(3):
        gc.collect()


def test_cdata_support_weak_references(ffi):
    p = ffi.new("int *")
    ref = weakref.ref(p)
    assert ref() is p
    del p
    collect()
    assert ref() is None


@pytest.mark.ffi_py_only
@pytest.mark.parametrize(
    "derive, read, keeps_object",
    [
        (lambda ffi, p: p + 500, lambda ffi, d: [d[i] for i in range(-500, 500)], False),
        (lambda ffi, p: p[200:1000], lambda ffi, d: [None] * 200 + list(d), False),
        (lambda ffi, p: ffi.cast("int *", p), lambda ffi, d: [d[i] for i in range(SIZE)], False),
        (
            lambda ffi, p: ffi.cast("char *", p) + 4,
            lambda ffi, d: [int(ffi.cast("int *", d - 4)[i]) for i in range(SIZE)],
            False,
        ),
        (lambda ffi, p: ffi.addressof(p, 10), lambda ffi, d: [d[i - 10] for i in range(SIZE)], False),
        (
            lambda ffi, p: ffi.buffer(p),
            lambda ffi, d: [int.from_bytes(d[4 * i:4 * i + 4], "little") for i in range(SIZE)],
            True,  # a buffer holds the cdata object itself, which is fine
        ),
    ],
    ids=["pointer+n", "slice", "cast", "cast-char-plus", "addressof", "buffer"],
)
def test_memory_of_new_outlives_the_original_while_derived_cdata_live(
    ffi, derive, read, keeps_object
):
    p = ffi.new("int[]", PATTERN)
    original = weakref.ref(p)
    derived = derive(ffi, p)
    del p
    collect()
    if keeps_object:
        assert original() is not None
    else:
        assert original() is None  # the object from new is gone...
    keep = churn(ffi)
    values = read(ffi, derived)
    expected = [None if v is None else PATTERN[i] for i, v in enumerate(values)]
    assert values == expected  # ...but its memory is not
    del keep


@pytest.mark.ffi_py_only
def test_struct_member_views_keep_the_struct_alive(ffi):
    ffi.cdef("struct rec { int head; int body[999]; };")
    p = ffi.new("struct rec *", {"head": 7, "body": PATTERN[:999]})
    body = p.body  # an int[999] view into the struct
    item = p[0]  # the struct itself
    del p
    collect()
    keep = churn(ffi)
    assert list(body) == PATTERN[:999]
    assert item.head == 7
    del keep


def test_memory_is_freed_when_the_last_reference_dies(ffi):
    # The counterpart of the tests above: the weakref proves the object is
    # collectable, so nothing leaks a reference to it.
    p = ffi.new("int[]", PATTERN)
    q = p + 1
    ref = weakref.ref(p)
    del p, q
    collect()
    assert ref() is None


def test_with_block_releases_at_exit(ffi):
    with ffi.new("int[4]", [1, 2, 3, 4]) as p:
        assert list(p) == [1, 2, 3, 4]
    assert isinstance(p, ffi.CData)


@pytest.mark.ffi_py_only
def test_use_after_with_or_release_raises_instead_of_reading_freed_memory(ffi):
    # cffi leaves this undefined (it reads freed memory); ffi_py checks.
    with ffi.new("int *", 5) as p:
        assert p[0] == 5
    with pytest.raises(ValueError) as excinfo:
        p[0]
    assert "released" in str(excinfo.value)
    q = ffi.new("int *", 6)
    ffi.release(q)
    with pytest.raises(ValueError):
        q[0]
    ffi.release(q)  # a second release is a no-op


def test_gc_runs_the_destructor_once_when_collected(ffi, libc):
    calls = []
    raw = libc.malloc(8)
    g = ffi.gc(raw, calls.append)
    assert g == raw
    assert ffi.typeof(g) is ffi.typeof("void *")
    del g
    collect()
    assert len(calls) == 1
    assert calls[0] == raw
    libc.free(raw)


def test_gc_with_a_c_destructor(ffi, libc):
    p = ffi.gc(ffi.cast("int *", libc.malloc(16)), libc.free)
    p[3] = 9
    assert p[3] == 9
    del p
    collect()  # free() ran; nothing observable but no crash


def test_release_runs_the_gc_destructor_now_and_once(ffi, libc):
    calls = []
    g = ffi.gc(libc.malloc(8), lambda ptr: (calls.append(1), libc.free(ptr)))
    ffi.release(g)
    assert calls == [1]
    del g
    collect()
    assert calls == [1]


def test_with_block_on_gc_cdata_runs_the_destructor(ffi, libc):
    calls = []
    with ffi.gc(libc.malloc(8), lambda ptr: (calls.append(1), libc.free(ptr))) as g:
        assert calls == []
    assert calls == [1]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_gc_none_detaches_the_destructor(ffi, libc):
    calls = []
    raw = libc.malloc(8)
    g = ffi.gc(raw, calls.append)
    ffi.gc(g, None)
    del g
    collect()
    assert calls == []
    libc.free(raw)


def test_new_allocator_uses_the_given_alloc_and_free(ffi, libc):
    log = []

    def alloc(size):
        log.append(("alloc", size))
        return libc.malloc(size)

    def free(ptr):
        log.append(("free", int(ffi.cast("uintptr_t", ptr)) != 0))
        libc.free(ptr)

    new = ffi.new_allocator(alloc, free)
    a = new("int[4]")
    assert list(a) == [0, 0, 0, 0]  # cleared by default
    assert log == [("alloc", 16)]
    a[2] = 5
    assert a[2] == 5
    del a
    collect()
    assert log == [("alloc", 16), ("free", True)]
    assert new("int *", 7)[0] == 7
    with new("double[2]", [1.5, 2.5]) as d:
        assert list(d) == [1.5, 2.5]
    assert log[-1] == ("free", True)


def test_new_allocator_defaults_and_null(ffi):
    plain = ffi.new_allocator()
    assert list(plain("int[2]", [1, 2])) == [1, 2]
    failing = ffi.new_allocator(lambda size: ffi.NULL)
    with pytest.raises(MemoryError):
        failing("int[2]")


def test_handle_round_trip_through_c(ffi, libc):
    class Payload:
        pass

    obj = Payload()
    h = ffi.new_handle(obj)
    assert ffi.typeof(h) is ffi.typeof("void *")
    assert h != ffi.NULL
    assert ffi.from_handle(h) is obj
    # memcpy(d, s, 0) returns d: a plain void* that C handed back.
    back = libc.memcpy(h, h, 0)
    assert ffi.from_handle(back) is obj


def test_handle_keeps_its_object_alive_and_then_lets_go(ffi):
    class Payload:
        pass

    obj = Payload()
    ref = weakref.ref(obj)
    h = ffi.new_handle(obj)
    del obj
    collect()
    assert ref() is not None
    assert ffi.from_handle(h) is ref()
    del h
    collect()
    assert ref() is None


def test_handle_through_a_c_callback(ffi, libc):
    # bsearch passes the key pointer to the comparator: carry a handle.
    items = ffi.new("int[]", [1, 3, 5, 7])
    seen = []

    class Finder:
        target = 5

    @ffi.callback("int(const void *, const void *)")
    def compare(key, item):
        finder = ffi.from_handle(key)
        seen.append(finder)
        return finder.target - ffi.cast("int *", item)[0]

    finder = Finder()
    key = ffi.new_handle(finder)
    found = libc.bsearch(key, items, 4, ffi.sizeof("int"), compare)
    assert ffi.cast("int *", found) - items == 2
    assert seen and all(s is finder for s in seen)


@pytest.mark.ffi_py_only
def test_from_handle_of_a_non_handle_raises(ffi):
    # cffi crashes or misbehaves on a pointer that is not a handle.
    with pytest.raises(FFIError):
        ffi.from_handle(ffi.NULL)
    with pytest.raises(FFIError):
        ffi.from_handle(ffi.new("int *"))


def test_gc_none_needs_a_cdata_from_gc_and_returns_none(ffi):
    p = ffi.new("int *", 1)
    with pytest.raises(TypeError):
        ffi.gc(p, None)
    q = ffi.gc(p, lambda _: None)
    assert ffi.gc(q, None) is None
    assert ffi.gc(q, None) is None  # removing it again is harmless
