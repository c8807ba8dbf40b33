/* The hot loops of log stripping, in C.
 *
 * Python's re.sub costs a fraction of a microsecond per match, and CI logs carry an
 * escape sequence or a timestamp on almost every line. These functions do exactly
 * what the Python code in terminal.py does (_SIMPLE_ESCAPE, _GHA_TIMESTAMP_*, the
 * rstrip of every line), which stays the fallback and the reference the tests
 * compare against.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#if defined(__unix__) || defined(__APPLE__)
#define HAVE_PREAD 1
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>
#endif
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define IN(c, lo, hi) ((c) >= (lo) && (c) <= (hi))
#define DIGIT(c) IN(c, '0', '9')

/* End of the escape sequence starting at s[i] == ESC, or -1 when none matches.
 * The alternatives and their order are those of _SIMPLE_ESCAPE. */
static Py_ssize_t escape_end(const unsigned char *s, Py_ssize_t i, Py_ssize_t n)
{
    Py_ssize_t j = i + 1, k;
    unsigned char c;
    if (j >= n)
        return -1;
    c = s[j];
    if (c == '[') { /* CSI: parameters, intermediates, a final byte */
        k = j + 1;
        while (k < n && IN(s[k], 0x30, 0x3F))
            k++;
        while (k < n && IN(s[k], 0x20, 0x2F))
            k++;
        if (k < n && IN(s[k], 0x40, 0x7E))
            return k + 1;
        return j + 1; /* no final byte: the two-byte form ESC '[' */
    }
    if (c == ']' || c == 'P' || c == '_' || c == '^' || c == 'X') {
        /* OSC, DCS, APC, PM, SOS: up to BEL or ST, or to the next ESC */
        k = j + 1;
        while (k < n && s[k] != 0x07 && s[k] != 0x1b)
            k++;
        if (k < n && s[k] == 0x07)
            return k + 1;
        if (k + 1 < n && s[k] == 0x1b && s[k + 1] == '\\')
            return k + 2;
        return k;
    }
    if (IN(c, 0x20, 0x2F)) { /* nF: intermediates, then a final byte */
        k = j;
        while (k < n && IN(s[k], 0x20, 0x2F))
            k++;
        return (k < n && IN(s[k], 0x30, 0x7E)) ? k + 1 : -1;
    }
    if (IN(c, 0x30, 0x7E))
        return j + 1;
    return -1;
}

/* A filter copies s[0..n) to out (never longer) and returns the length written; *flag
 * reports something about the input (only crlf_to_lf uses it). */
typedef Py_ssize_t (*filter_fn)(const unsigned char *s, Py_ssize_t n, unsigned char *out, int *flag);

/* Run a filter over a bytes-like argument: the result, or (result, flag) when paired. */
static PyObject *apply(PyObject *arg, filter_fn filter, int paired)
{
    Py_buffer view;
    PyObject *result;
    Py_ssize_t written;
    int flag = 0;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    result = PyBytes_FromStringAndSize(NULL, view.len);
    if (result == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    written = filter(view.buf, view.len, (unsigned char *)PyBytes_AS_STRING(result), &flag);
    PyBuffer_Release(&view);
    if (_PyBytes_Resize(&result, written) < 0)
        return NULL;
    if (!paired)
        return result;
    return Py_BuildValue("(NO)", result, flag ? Py_True : Py_False);
}

static Py_ssize_t escapes_filter(const unsigned char *s, Py_ssize_t n, unsigned char *out, int *flag)
{
    Py_ssize_t i = 0, o = 0, end;
    while (i < n) {
        const unsigned char *esc = memchr(s + i, 0x1b, n - i);
        Py_ssize_t at = esc ? esc - s : n;
        memcpy(out + o, s + i, at - i);
        o += at - i;
        if (at >= n)
            break;
        end = escape_end(s, at, n);
        if (end < 0) { /* not a sequence: keep the ESC (later deleted as a control) */
            out[o++] = 0x1b;
            i = at + 1;
        } else {
            i = end;
        }
    }
    return o;
}

/* End of a GitHub Actions timestamp at s[i] ("2024-05-01T10:00:00.1234567Z "), or -1. */
static Py_ssize_t timestamp_end(const unsigned char *s, Py_ssize_t i, Py_ssize_t n)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    Py_ssize_t k;
    for (k = 0; shape[k]; k++) {
        if (i + k >= n)
            return -1;
        if (shape[k] == 'd' ? !DIGIT(s[i + k]) : s[i + k] != (unsigned char)shape[k])
            return -1;
    }
    k += i;
    if (k < n && s[k] == '.' && k + 1 < n && DIGIT(s[k + 1])) {
        k += 1;
        while (k < n && DIGIT(s[k]))
            k++;
    }
    if (k >= n || s[k] != 'Z')
        return -1;
    k++;
    if (k < n && s[k] == ' ')
        k++;
    return k;
}

static Py_ssize_t timestamps_filter(const unsigned char *s, Py_ssize_t n, unsigned char *out, int *flag)
{
    Py_ssize_t i = 0, o = 0, end;
    while (i < n) { /* i is at the start of a line */
        const unsigned char *newline;
        Py_ssize_t stop;
        end = timestamp_end(s, i, n);
        if (end >= 0)
            i = end;
        newline = memchr(s + i, '\n', n - i);
        stop = newline ? newline - s + 1 : n;
        memcpy(out + o, s + i, stop - i);
        o += stop - i;
        i = stop;
    }
    return o;
}

static Py_ssize_t trailing_blanks_filter(const unsigned char *s, Py_ssize_t n, unsigned char *out, int *flag)
{
    Py_ssize_t i = 0, o = 0;
    while (i < n) {
        const unsigned char *newline = memchr(s + i, '\n', n - i);
        Py_ssize_t stop = newline ? newline - s : n, last = stop;
        while (last > i && (s[last - 1] == ' ' || s[last - 1] == '\t'))
            last--;
        memcpy(out + o, s + i, last - i);
        o += last - i;
        if (newline)
            out[o++] = '\n';
        i = stop + 1;
    }
    return o;
}

/* CRLF to LF; *flag says whether a CR not followed by LF (a rewritten line) is left. */
static Py_ssize_t crlf_filter(const unsigned char *s, Py_ssize_t n, unsigned char *out, int *flag)
{
    Py_ssize_t i = 0, o = 0;
    while (i < n) {
        const unsigned char *cr = memchr(s + i, '\r', n - i);
        Py_ssize_t at = cr ? cr - s : n;
        memcpy(out + o, s + i, at - i);
        o += at - i;
        if (at >= n)
            break;
        if (at + 1 < n && s[at + 1] == '\n') {
            out[o++] = '\n';
            i = at + 2;
        } else {
            out[o++] = '\r';
            *flag = 1;
            i = at + 1;
        }
    }
    return o;
}

static PyObject *strip_escapes(PyObject *self, PyObject *arg) { return apply(arg, escapes_filter, 0); }
static PyObject *strip_timestamps(PyObject *self, PyObject *arg) { return apply(arg, timestamps_filter, 0); }
static PyObject *strip_trailing_blanks(PyObject *self, PyObject *arg) { return apply(arg, trailing_blanks_filter, 0); }
static PyObject *crlf_to_lf(PyObject *self, PyObject *arg) { return apply(arg, crlf_filter, 1); }

/* Well-formed UTF-8 (Unicode table 3-7, as Python's strict decoder), without building a str. */
static PyObject *is_utf8(PyObject *self, PyObject *arg)
{
    Py_buffer view;
    const unsigned char *s;
    Py_ssize_t n, i = 0;
    int ok = 1;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    s = view.buf;
    n = view.len;
    while (i < n) {
        unsigned char c = s[i];
        Py_ssize_t need;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (IN(c, 0xC2, 0xDF))
            need = 1;
        else if (c == 0xE0)
            need = 2, lo = 0xA0;
        else if (IN(c, 0xE1, 0xEC) || IN(c, 0xEE, 0xEF))
            need = 2;
        else if (c == 0xED)
            need = 2, hi = 0x9F;
        else if (c == 0xF0)
            need = 3, lo = 0x90;
        else if (IN(c, 0xF1, 0xF3))
            need = 3;
        else if (c == 0xF4)
            need = 3, hi = 0x8F;
        else {
            ok = 0;
            break;
        }
        if (i + need >= n) { /* cut short */
            ok = 0;
            break;
        }
        if (!IN(s[i + 1], lo, hi)) {
            ok = 0;
            break;
        }
        for (Py_ssize_t k = 2; k <= need; k++) {
            if (!IN(s[i + k], 0x80, 0xBF)) {
                ok = 0;
                break;
            }
        }
        if (!ok)
            break;
        i += need + 1;
    }
    PyBuffer_Release(&view);
    return PyBool_FromLong(ok);
}

/* Newlines in s[0..n): SSE2 compares 16 bytes at a time, summing in byte lanes
 * (at most 255 rounds before they are folded into the total). */
static Py_ssize_t newlines_in(const unsigned char *s, Py_ssize_t n)
{
    Py_ssize_t total = 0, i = 0;
#ifdef __SSE2__
    const __m128i newline = _mm_set1_epi8('\n');
    while (n - i >= 16) {
        __m128i lanes = _mm_setzero_si128();
        Py_ssize_t rounds = (n - i) / 16;
        if (rounds > 255)
            rounds = 255;
        for (Py_ssize_t r = 0; r < rounds; r++, i += 16) {
            __m128i block = _mm_loadu_si128((const __m128i *)(s + i));
            lanes = _mm_sub_epi8(lanes, _mm_cmpeq_epi8(block, newline));
        }
        __m128i sums = _mm_sad_epu8(lanes, _mm_setzero_si128());
        total += _mm_cvtsi128_si32(sums) + _mm_cvtsi128_si32(_mm_unpackhi_epi64(sums, sums));
    }
#endif
    for (; i < n; i++)
        total += s[i] == '\n';
    return total;
}

/* count_newlines(data, start, end): newlines in data[start:end] (indexes already clamped). */
static PyObject *count_newlines(PyObject *self, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t start, end, total;
    if (!PyArg_ParseTuple(args, "y*nn", &view, &start, &end))
        return NULL;
    if (start < 0 || end > view.len || start > end) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "start and end must satisfy 0 <= start <= end <= len(data)");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    total = newlines_in((const unsigned char *)view.buf + start, end - start);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(total);
}

#ifdef HAVE_PREAD
/* read_file(fd, offset, size): up to `size` bytes of the file from `offset`, as bytes.
 *
 * A large read into fresh memory costs more in page faults than in copying; asking
 * for transparent huge pages on the buffer makes that one fault per 2 MB. */
static PyObject *read_file(PyObject *self, PyObject *args)
{
    int fd;
    Py_ssize_t size, got = 0, r = 0;
    long long offset;
    PyObject *result;
    char *buffer;
    if (!PyArg_ParseTuple(args, "iLn", &fd, &offset, &size))
        return NULL;
    if (size < 0 || offset < 0) {
        PyErr_SetString(PyExc_ValueError, "offset and size must not be negative");
        return NULL;
    }
    result = PyBytes_FromStringAndSize(NULL, size);
    if (result == NULL)
        return NULL;
    buffer = PyBytes_AS_STRING(result);
    Py_BEGIN_ALLOW_THREADS
#ifdef MADV_HUGEPAGE
    /* Only buffers this large are sure to be a mapping of their own (glibc's largest
     * mmap threshold is 32 MB), so the advice goes away with them. */
    if (size >= 32 * 1024 * 1024) {
        const uintptr_t huge = 2 * 1024 * 1024;
        uintptr_t from = ((uintptr_t)buffer + huge - 1) & ~(huge - 1);
        uintptr_t to = ((uintptr_t)buffer + size) & ~(huge - 1);
        if (to > from)
            madvise((void *)from, to - from, MADV_HUGEPAGE); /* advice only: failure is fine */
    }
#endif
    while (got < size) {
        r = pread(fd, buffer + got, (size_t)(size - got), (off_t)(offset + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += r;
    }
    Py_END_ALLOW_THREADS
    if (r < 0) {
        Py_DECREF(result);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (got < size && _PyBytes_Resize(&result, got) < 0) /* the file shrank */
        return NULL;
    return result;
}
#endif

static PyMethodDef methods[] = {
    {"count_newlines", count_newlines, METH_VARARGS, "Newlines in data[start:end]."},
#ifdef HAVE_PREAD
    {"read_file", read_file, METH_VARARGS,
     "Up to size bytes of a file from offset (pread; huge pages asked for)."},
#endif
    {"strip_escapes", strip_escapes, METH_O,
     "Remove the escape sequences that do not move the cursor (as _SIMPLE_ESCAPE.sub)."},
    {"strip_timestamps", strip_timestamps, METH_O,
     "Remove a GitHub Actions timestamp from the start of every line."},
    {"is_utf8", is_utf8, METH_O, "Whether the bytes are well-formed UTF-8."},
    {"crlf_to_lf", crlf_to_lf, METH_O,
     "CRLF line ends as LF, and whether another CR (a rewritten line) is left."},
    {"strip_trailing_blanks", strip_trailing_blanks, METH_O,
     "Remove spaces and tabs at the end of every line."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_cstrip", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__cstrip(void) { return PyModule_Create(&module); }
