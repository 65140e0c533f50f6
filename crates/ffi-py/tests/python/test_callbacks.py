"""ffi.callback: Python functions as C function pointers, called from
Python, from C (qsort, bsearch) and from threads that C created; and what
happens to exceptions and bad return values."""

import sys
import threading

import pytest


@pytest.fixture
def unraisable(monkeypatch):
    """Collects what reaches sys.unraisablehook during the test."""
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    return seen


def described(u):
    # cffi puts the callback in err_msg, ffi_py in object: accept either.
    return f"{u.err_msg or ''} {u.object!r}"


def test_callback_called_from_python(ffi):
    add = ffi.callback("int(int, int)", lambda a, b: a + b)
    assert add(2, 40) == 42
    assert ffi.typeof(add) is ffi.typeof("int(*)(int, int)")
    assert "calling" in repr(add)


def test_callback_accepts_function_pointer_spelling(ffi):
    neg = ffi.callback("long(*)(long)", lambda x: -x)
    assert neg(5) == -5


def test_callback_as_decorator(ffi):
    @ffi.callback("double(double, int)")
    def scale(x, n):
        return x * n

    assert scale(1.5, 3) == 4.5


def test_callback_argument_and_result_conversions(ffi):
    ffi.cdef("struct pt { int x, y; };")
    second = ffi.callback("char(char *)", lambda s: ffi.string(s)[1:2])
    assert second(ffi.new("char[]", b"xyz")) == b"y"
    norm1 = ffi.callback("int(struct pt *)", lambda p: abs(p.x) + abs(p.y))
    assert norm1(ffi.new("struct pt *", [3, -4])) == 7
    swapped = ffi.callback("struct pt(struct pt)", lambda p: {"x": p.y, "y": p.x})
    r = swapped(ffi.new("struct pt *", [1, 2])[0])
    assert (r.x, r.y) == (2, 1)
    is_odd = ffi.callback("_Bool(unsigned long long)", lambda v: v % 2 == 1)
    assert is_odd(2**64 - 1) is True
    nothing = ffi.callback("void(int)", lambda x: None)
    assert nothing(1) is None


def test_callback_wrong_call_from_python_is_type_error(ffi):
    ident = ffi.callback("int(int)", lambda x: x)
    with pytest.raises(TypeError):
        ident(1, 2)
    with pytest.raises(TypeError):
        ident("a")
    with pytest.raises(OverflowError):
        ident(2**31)


def test_callback_needs_a_function_type_and_a_callable(ffi):
    with pytest.raises(TypeError):
        ffi.callback("int", lambda x: x)
    with pytest.raises(TypeError):
        ffi.callback("int(int)", 5)
    with pytest.raises(TypeError):
        ffi.callback("int(int)", lambda x: x, error="not an int")


def test_qsort_with_a_python_comparator(ffi, libc):
    values = [5, -3, 12, 0, 7, -3, 99, 1]
    arr = ffi.new("int[]", values)
    calls = []

    @ffi.callback("int(const void *, const void *)")
    def compare(a, b):
        x, y = ffi.cast("int *", a)[0], ffi.cast("int *", b)[0]
        calls.append((x, y))
        return (x > y) - (x < y)

    assert libc.qsort(arr, len(values), ffi.sizeof("int"), compare) is None
    assert list(arr) == sorted(values)
    assert calls  # C really called back


def test_qsort_of_structs_by_a_field(ffi, libc):
    ffi.cdef("struct rec { char name[8]; double score; };")
    recs = ffi.new("struct rec[3]", [[b"bo", 2.5], [b"al", -1.0], [b"cy", 9.75]])

    @ffi.callback("int(const void *, const void *)")
    def by_score(a, b):
        x = ffi.cast("struct rec *", a).score
        y = ffi.cast("struct rec *", b).score
        return (x > y) - (x < y)

    libc.qsort(recs, 3, ffi.sizeof("struct rec"), by_score)
    assert [ffi.string(r.name) for r in recs] == [b"al", b"bo", b"cy"]


def test_plain_python_function_is_not_a_function_pointer(ffi, libc):
    with pytest.raises(TypeError):
        libc.qsort(ffi.new("int[2]"), 2, 4, lambda a, b: 0)


def test_exception_goes_to_unraisablehook_and_error_value_is_returned(ffi, unraisable):
    def bad(x):
        raise ValueError(f"boom {x}")

    cb = ffi.callback("int(int)", bad, error=-7)
    assert cb(3) == -7
    assert len(unraisable) == 1
    u = unraisable[0]
    assert u.exc_type is ValueError
    assert str(u.exc_value) == "boom 3"
    assert "bad" in described(u)


def test_default_error_value_is_zero(ffi, unraisable):
    cb = ffi.callback("double(double)", lambda x: 1 / 0)
    assert cb(1.0) == 0.0
    assert unraisable[0].exc_type is ZeroDivisionError


def test_exception_inside_qsort_comparator(ffi, libc, unraisable):
    arr = ffi.new("int[]", [3, 1, 2])
    cb = ffi.callback("int(const void *, const void *)", lambda a, b: 1 / 0, error=0)
    libc.qsort(arr, 3, 4, cb)  # every comparison "equal": C survives
    assert sorted(arr) == [1, 2, 3]
    assert unraisable and all(u.exc_type is ZeroDivisionError for u in unraisable)


def test_bad_return_value_is_reported_and_error_value_returned(ffi, unraisable):
    cb = ffi.callback("int(int)", lambda x: "not an int", error=-3)
    assert cb(1) == -3
    assert unraisable[0].exc_type is TypeError
    big = ffi.callback("int(int)", lambda x: 2**40, error=3)
    assert big(1) == 3
    assert unraisable[1].exc_type is OverflowError
    void = ffi.callback("void(int)", lambda x: 5)
    assert void(1) is None
    assert unraisable[2].exc_type is TypeError


def test_onerror_receives_the_exception_and_chooses_the_result(ffi, unraisable):
    got = []

    def onerror(exc_type, exc_value, tb):
        got.append((exc_type, type(exc_value), tb is not None))
        return 42

    cb = ffi.callback("int(int)", lambda x: 10 // x, error=-1, onerror=onerror)
    assert cb(0) == 42
    # The exception's type, not its message: CPython words it ("integer
    # division or modulo by zero" before 3.14, "division by zero" since).
    assert got == [(ZeroDivisionError, ZeroDivisionError, True)]
    assert unraisable == []
    assert cb(2) == 5  # no exception: onerror is not involved
    assert len(got) == 1


def test_onerror_returning_none_uses_the_error_value(ffi, unraisable):
    cb = ffi.callback("int(int)", lambda x: 1 / 0, error=-1, onerror=lambda *a: None)
    assert cb(1) == -1
    assert unraisable == []


def test_exception_in_onerror_is_reported(ffi, unraisable):
    def onerror(*args):
        raise KeyError("in onerror")

    cb = ffi.callback("int(int)", lambda x: 1 / 0, error=-9, onerror=onerror)
    assert cb(1) == -9
    assert KeyError in [u.exc_type for u in unraisable]


def test_exception_in_onerror_reports_the_original_too(ffi, unraisable):
    def onerror(*args):
        raise KeyError("in onerror")

    cb = ffi.callback("int(int)", lambda x: 1 / 0, error=-9, onerror=onerror)
    cb(1)
    assert [u.exc_type for u in unraisable] == [ZeroDivisionError, KeyError]


def test_callback_from_a_thread_created_by_c(ffi, helper):
    threads = set()

    @ffi.callback("int(int)")
    def square(i):
        threads.add(threading.get_ident())
        return i * i

    n = 1000
    assert helper.call_from_c_thread(square, n) == sum(i * i for i in range(n))
    assert threads and threading.get_ident() not in threads


def test_callbacks_from_many_c_threads_at_once(ffi, helper):
    lock = threading.Lock()
    seen = []

    @ffi.callback("int(int)")
    def record(i):
        with lock:
            seen.append(i)
        return i % 7

    threads, count = 8, 2000
    total = helper.call_from_c_threads(record, threads, count)
    assert total == sum(i % 7 for i in range(threads * count))
    assert sorted(seen) == list(range(threads * count))


def test_exception_in_a_c_thread_callback(ffi, helper, unraisable):
    @ffi.callback("int(int)", error=-1)
    def failing(i):
        if i % 2:
            raise RuntimeError(f"odd {i}")
        return 10

    # 5 even calls return 10, 5 odd ones fail and return the error value.
    assert helper.call_from_c_thread(failing, 10) == 5 * 10 - 5
    assert sorted(str(u.exc_value) for u in unraisable) == [f"odd {i}" for i in (1, 3, 5, 7, 9)]


def test_callback_object_stays_valid_while_referenced(ffi, libc):
    import gc

    cb = ffi.callback("int(const void *, const void *)",
                      lambda a, b: ffi.cast("int *", a)[0] - ffi.cast("int *", b)[0])
    gc.collect()
    arr = ffi.new("int[]", [3, 2, 1])
    libc.qsort(arr, 3, 4, cb)
    assert list(arr) == [1, 2, 3]


def test_callback_as_the_start_routine_of_libc_pthread_create(ffi):
    # No helper library: libc's own pthread_create runs the callback on a
    # thread that Python knows nothing about.
    ffi.cdef("""
        typedef unsigned long pthread_t;
        int pthread_create(pthread_t *, void *, void *(*)(void *), void *);
        int pthread_join(pthread_t, void **);
    """)
    lib = ffi.dlopen(None)
    seen = []

    @ffi.callback("void *(void *)")
    def start(arg):
        seen.append((threading.get_ident(), ffi.from_handle(arg)))
        return ffi.cast("void *", 42)

    payload = ["from the main thread"]
    handle = ffi.new_handle(payload)
    tid = ffi.new("pthread_t *")
    assert lib.pthread_create(tid, ffi.NULL, start, handle) == 0
    result = ffi.new("void **")
    assert lib.pthread_join(tid[0], result) == 0
    assert int(ffi.cast("intptr_t", result[0])) == 42
    [(ident, received)] = seen
    assert received is payload
    assert ident == tid[0] != threading.get_ident()


def test_reentrant_callbacks_c_python_c_python(ffi, libc):
    # The outer comparator itself calls qsort with an inner comparator.
    inner_calls = []

    @ffi.callback("int(const void *, const void *)")
    def inner(a, b):
        inner_calls.append(1)
        return ffi.cast("int *", a)[0] - ffi.cast("int *", b)[0]

    @ffi.callback("int(const void *, const void *)")
    def outer(a, b):
        scratch = ffi.new("int[]", [3, 1, 2])
        libc.qsort(scratch, 3, 4, inner)
        assert list(scratch) == [1, 2, 3]
        return ffi.cast("int *", a)[0] - ffi.cast("int *", b)[0]

    arr = ffi.new("int[]", [9, 7, 8])
    libc.qsort(arr, 3, 4, outer)
    assert list(arr) == [7, 8, 9]
    assert inner_calls


def test_callbacks_from_python_threads_through_qsort(ffi, libc):
    errors = []

    @ffi.callback("int(const void *, const void *)")
    def compare(a, b):
        return ffi.cast("long *", a)[0] - ffi.cast("long *", b)[0]

    def worker(seed):
        try:
            for round_ in range(50):
                values = [(seed * 7919 + round_ * 104729 + i * 31) % 1000 for i in range(64)]
                arr = ffi.new("long[]", values)
                libc.qsort(arr, 64, 8, compare)
                assert list(arr) == sorted(values)
        except BaseException as e:
            errors.append(repr(e))

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []


def test_a_callback_in_a_cycle_with_its_callable_is_collected(ffi):
    import gc
    import weakref

    class Holder:
        def __init__(self):
            self.cb = ffi.callback("int(int)", self.twice)

        def twice(self, x):
            return 2 * x

    holder = Holder()
    assert holder.cb(21) == 42
    alive = weakref.ref(holder)
    del holder
    gc.collect()
    assert alive() is None, "the callback kept its callable's cycle alive"


@pytest.mark.ffi_py_only  # cffi cannot release a callback
def test_release_frees_a_callback_and_casts_do_not_keep_it(ffi):
    import gc
    import weakref

    def f(x):
        return x + 1

    cb = ffi.callback("int(int)", f)
    as_void = ffi.cast("void *", cb)
    assert as_void != ffi.NULL
    alive = weakref.ref(f)
    del f
    ffi.release(cb)
    gc.collect()
    assert alive() is None


def test_callback_types_may_name_the_function_and_take_functions(ffi):
    def add(a, b):
        return bytes([a[0] + b[0]])

    f = ffi.callback("char add(char, char)", add)
    assert f(b"A", b"\x01") == b"B"
    g = ffi.callback("char g(char cb(char, char))", lambda cb: cb(b"A", b"\x02"))
    assert g(f) == b"C"
    assert ffi.typeof("int x") is ffi.typeof("int")


def test_kept_callback_arguments_keep_their_values(ffi, libc):
    values = [5, 3, 9, 1, 7, 2, 8]
    array = ffi.new("int[]", values)
    kept = []

    def compare(a, b):
        kept.append((a, int(ffi.cast("intptr_t", a))))
        kept.append((b, int(ffi.cast("intptr_t", b))))
        x, y = ffi.cast("int *", a)[0], ffi.cast("int *", b)[0]
        return (x > y) - (x < y)

    callback = ffi.callback("int(const void *, const void *)", compare)
    libc.qsort(array, len(values), ffi.sizeof("int"), callback)
    assert list(array) == sorted(values)
    assert len(kept) >= 2 * (len(values) - 1)
    assert all(int(ffi.cast("intptr_t", p)) == addr for p, addr in kept)
    assert len({id(p) for p, _ in kept}) == len(kept)
