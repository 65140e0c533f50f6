"""Threads: C calls release the GIL (unless a library opts out with
release_gil=False), and many Python threads can call C at once."""

import threading
import time

import pytest
from _support import longest_stall_during

SLEEP_US = 400_000  # each usleep call: 0.4 s


def test_gil_is_released_during_a_c_call(ffi, libc):
    stall = longest_stall_during(lambda: libc.usleep(SLEEP_US))
    # With the GIL released the spinner never waits for the 0.4 s sleep.
    assert stall < 0.15, f"another thread stalled {stall:.3f} s"


@pytest.mark.ffi_py_only
def test_release_gil_false_keeps_the_gil(ffi):
    ffi.cdef("int usleep(unsigned int);")
    lib = ffi.dlopen(None, release_gil=False)
    stall = longest_stall_during(lambda: lib.usleep(SLEEP_US))
    # The spinner cannot run at all while the call holds the GIL.
    assert stall >= 0.35, f"another thread ran during the call (stall {stall:.3f} s)"


def sleep_in_threads(usleep, threads=8, microseconds=200_000):
    barrier = threading.Barrier(threads)

    def worker():
        barrier.wait()
        usleep(microseconds)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return time.perf_counter() - start


def test_c_calls_in_eight_threads_overlap(ffi, libc):
    elapsed = sleep_in_threads(libc.usleep)
    # Serialized, 8 x 0.2 s would take 1.6 s.
    assert elapsed < 0.8, f"8 parallel 0.2 s sleeps took {elapsed:.2f} s"


@pytest.mark.ffi_py_only
def test_release_gil_false_serializes_calls(ffi):
    ffi.cdef("int usleep(unsigned int);")
    lib = ffi.dlopen(None, release_gil=False)
    elapsed = sleep_in_threads(lib.usleep)
    assert elapsed >= 1.55, f"8 GIL-holding 0.2 s sleeps took only {elapsed:.2f} s"


def test_eight_threads_call_c_at_once_with_correct_results(ffi, libc):
    threads, rounds = 8, 3000
    barrier = threading.Barrier(threads)
    errors = []
    done = []

    @ffi.callback("int(const void *, const void *)")
    def compare(a, b):
        x, y = ffi.cast("int *", a)[0], ffi.cast("int *", b)[0]
        return (x > y) - (x < y)

    def worker(k):
        buf = ffi.new("char[64]")
        barrier.wait()
        try:
            for i in range(rounds):
                v = k * 1_000_000 + i
                assert libc.labs(-v) == v
                n = libc.snprintf(buf, 64, b"%d:%d", ffi.cast("int", k), ffi.cast("int", i))
                text = f"{k}:{i}".encode()
                assert (n, ffi.string(buf)) == (len(text), text)
                assert libc.strtol(buf, ffi.NULL, 10) == k
                q = libc.div(v, 7)
                assert (q.quot, q.rem) == divmod(v, 7)
                assert libc.sqrt(float(v * v)) == float(v)
                if i % 100 == 0:
                    arr = ffi.new("int[]", [(i * 7 + j * 13) % 50 - k for j in range(20)])
                    libc.qsort(arr, 20, 4, compare)
                    assert list(arr) == sorted(arr)
            done.append(k)
        except BaseException as e:  # reported below, with the thread's id
            errors.append((k, repr(e)))

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []
    assert sorted(done) == list(range(threads))


def test_threads_share_a_library_global(ffi, helper):
    helper.helper_counter = 0
    lock = threading.Lock()

    def worker():
        for _ in range(500):
            with lock:  # helper_bump is not atomic in C
                helper.helper_bump(1)

    pool = [threading.Thread(target=worker) for _ in range(8)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert helper.helper_counter == 4000


def test_concurrent_cdef_typeof_and_new_on_one_ffi(ffi):
    # Declarations are added while other threads look types up and allocate.
    errors = []
    barrier = threading.Barrier(8)

    def declarer(k):
        barrier.wait()
        try:
            for i in range(100):
                ffi.cdef(f"struct s_{k}_{i} {{ int a; char b[{i + 1}]; }};")
                assert ffi.sizeof(f"struct s_{k}_{i}") == 4 + ((i + 1 + 3) // 4) * 4
        except BaseException as e:
            errors.append(repr(e))

    def user(k):
        barrier.wait()
        try:
            for i in range(2000):
                p = ffi.new("long[]", [k, i])
                assert (p[0], p[1]) == (k, i)
                assert ffi.typeof("long *") is ffi.typeof(p + 0)
        except BaseException as e:
            errors.append(repr(e))

    pool = [threading.Thread(target=declarer if k % 2 else user, args=(k,)) for k in range(8)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []
    assert len(ffi.list_types()[1]) == 400


def test_reused_cdata_never_mix_between_threads(ffi, libc):
    # Pooled pointers and struct results (CDataPool) handed to many threads
    # at once: every value read back must be the one its thread made.
    import sys
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    errors = []
    values = ffi.new("long[8]", list(range(100, 108)))
    base = int(ffi.cast("intptr_t", values))
    size = ffi.sizeof("long")

    def work(k):
        try:
            for i in range(3000):
                p = ffi.cast("long *", base + k * size)
                d = libc.div(i, k + 1)
                if p[0] != 100 + k or (d.quot, d.rem) != divmod(i, k + 1):
                    errors.append((k, i, p[0], d.quot, d.rem))
                    return
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    try:
        threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert errors == []
