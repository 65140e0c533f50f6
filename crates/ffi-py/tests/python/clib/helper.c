/* A small C library for the tests that libc cannot serve: calling a
 * function pointer from a thread that C created, and globals/enums that the
 * tests may read and write freely. Built by conftest.py with gcc. */
#include <pthread.h>

typedef int (*int_fn)(int);

struct job {
    int_fn fn;
    int first;
    int count;
    long sum;
};

static void *run_job(void *arg)
{
    struct job *job = arg;
    for (int i = 0; i < job->count; i++)
        job->sum += job->fn(job->first + i);
    return 0;
}

/* Starts one pthread that calls fn(0) .. fn(count - 1), joins it and returns
 * the sum of the results (-1 if the thread could not be started). */
long call_from_c_thread(int_fn fn, int count)
{
    pthread_t thread;
    struct job job = {fn, 0, count, 0};
    if (pthread_create(&thread, 0, run_job, &job) != 0)
        return -1;
    pthread_join(thread, 0);
    return job.sum;
}

/* Starts `threads` pthreads at once; thread k calls fn(k * count + i) for
 * i < count. Returns the sum over all threads (-1 on a failed start). */
long call_from_c_threads(int_fn fn, int threads, int count)
{
    pthread_t ids[64];
    struct job jobs[64];
    long total = 0;
    if (threads < 1 || threads > 64)
        return -1;
    for (int k = 0; k < threads; k++) {
        jobs[k] = (struct job){fn, k * count, count, 0};
        if (pthread_create(&ids[k], 0, run_job, &jobs[k]) != 0)
            return -1;
    }
    for (int k = 0; k < threads; k++) {
        pthread_join(ids[k], 0);
        total += jobs[k].sum;
    }
    return total;
}

int helper_counter = 7;
const double helper_ratio = 0.25;
int helper_table[4] = {10, 20, 30, 40};

enum helper_color { HELPER_RED, HELPER_GREEN = 5, HELPER_BLUE };

int helper_bump(int by)
{
    helper_counter += by;
    return helper_counter;
}

struct helper_pair {
    short tag;
    long long value;
};

/* A struct by value in and out, with padding between the members. */
struct helper_pair helper_swap_pair(struct helper_pair p)
{
    struct helper_pair out = {(short)-p.tag, p.value * 2};
    return out;
}

/* The type of one field through a pointer: the struct identity test. */
long long helper_pair_value(const struct helper_pair *p)
{
    return p->value + p->tag;
}

/* A struct too big for registers: passed and returned through memory. */
struct helper_big {
    double d[3];
    int i;
    char tag[5];
};

struct helper_big helper_big_scale(struct helper_big b, double k)
{
    for (int j = 0; j < 3; j++)
        b.d[j] *= k;
    b.i = -b.i;
    b.tag[0] = 'S';
    return b;
}

/* C calls a function pointer with float and double arguments (in SSE
 * registers) and an int, and combines the results. */
double helper_apply(double (*fn)(double, float, int), int n)
{
    double total = 0;
    for (int i = 0; i < n; i++)
        total += fn(i * 0.5, (float)i, i);
    return total;
}

/* One identity function per scalar type, and widening ones that return a
 * small argument as a long long: a value that went through the wrong
 * extension or truncation comes back different. */
#define HELPER_ID(T, name) \
    T helper_id_##name(T x) { return x; } \
    long long helper_widen_##name(T x) { return (long long)x; }
HELPER_ID(signed char, schar)
HELPER_ID(unsigned char, uchar)
HELPER_ID(short, short)
HELPER_ID(unsigned short, ushort)
HELPER_ID(int, int)
HELPER_ID(unsigned int, uint)
HELPER_ID(long, long)
HELPER_ID(long long, llong)
HELPER_ID(_Bool, bool)

unsigned long long helper_id_ullong(unsigned long long x) { return x; }
float helper_id_float(float x) { return x; }
double helper_id_double(double x) { return x; }
char helper_id_char(char x) { return x; }
void *helper_id_ptr(void *x) { return x; }

/* Eight integer and ten floating arguments: more than the registers hold,
 * so the last ones go on the stack; each is weighted by its position. */
double helper_many(signed char a, unsigned short b, int c, long long d,
                   unsigned char e, short f, unsigned int g, long h,
                   float f1, double f2, float f3, double f4, float f5,
                   double f6, float f7, double f8, float f9, double f10)
{
    return a * 1.0 + b * 2.0 + c * 3.0 + (double)d * 4.0 + e * 5.0 +
           f * 6.0 + g * 7.0 + (double)h * 8.0 + f1 * 9.0 + f2 * 10.0 +
           f3 * 11.0 + f4 * 12.0 + f5 * 13.0 + f6 * 14.0 + f7 * 15.0 +
           f8 * 16.0 + f9 * 17.0 + f10 * 18.0;
}

/* Arities 0 to 7 of integer-register arguments (integers and pointers),
 * and 1 to 5 of floating ones: argument i is weighted by 100 to the power
 * i, so a lost, swapped or wrongly narrowed argument changes the result. */
long long helper_ints0(void) { return 42; }
long long helper_ints1(long long a) { return a; }
long long helper_ints2(long long a, int b) { return a + 100LL * b; }
long long helper_ints3(const char *s, short b, unsigned char c)
{
    long long n = 0;
    while (s[n])
        n++;
    return n + 100LL * b + 10000LL * c;
}
long long helper_ints4(long a, unsigned int b, signed char c, long long d)
{
    return a + 100LL * b + 10000LL * c + 1000000LL * d;
}
long long helper_ints5(int a, int b, int c, int d, _Bool e)
{
    return a + 100LL * b + 10000LL * c + 1000000LL * d + 100000000LL * e;
}
long long helper_ints6(int a, int b, int c, int d, int e, const int *f)
{
    return a + 100LL * b + 10000LL * c + 1000000LL * d + 100000000LL * e +
           10000000000LL * *f;
}
long long helper_ints7(int a, int b, int c, int d, int e, int f, int g)
{
    return a + 100LL * b + 10000LL * c + 1000000LL * d + 100000000LL * e +
           10000000000LL * f + 1000000000000LL * g;
}
double helper_floats1(double a) { return a; }
double helper_floats2(double a, float b) { return a + 100.0 * b; }
float helper_floats3(float a, double b, float c)
{
    return a + 100.0f * (float)b + 10000.0f * c;
}
double helper_floats4(double a, double b, double c, float d)
{
    return a + 100.0 * b + 10000.0 * c + 1000000.0 * d;
}
double helper_floats5(double a, double b, double c, double d, double e)
{
    return a + 100.0 * b + 10000.0 * c + 1000000.0 * d + 100000000.0 * e;
}
