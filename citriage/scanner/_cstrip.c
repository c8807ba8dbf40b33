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
#include <structmember.h>
#include <stddef.h>
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
#ifdef __GLIBC__
#include <malloc.h>
#endif

#define IN(c, lo, hi) ((c) >= (lo) && (c) <= (hi))

/* Ask for transparent huge pages on a large fresh buffer: at this size page faults cost
 * more than the copy, and a huge page is one fault per 2 MB. Only buffers this large are
 * sure to be a mapping of their own (glibc's largest mmap threshold is 32 MB), so the
 * advice goes away with them. */
static void ask_huge_pages(char *buffer, Py_ssize_t size)
{
#ifdef MADV_HUGEPAGE
    if (size >= 32 * 1024 * 1024) {
        const uintptr_t huge = 2 * 1024 * 1024;
        uintptr_t from = ((uintptr_t)buffer + huge - 1) & ~(huge - 1);
        uintptr_t to = ((uintptr_t)buffer + size) & ~(huge - 1);
        if (to > from)
            madvise((void *)from, to - from, MADV_HUGEPAGE); /* advice only: failure is fine */
    }
#endif
}

/* Give the heap's free pages back to the system (glibc keeps blocks of a few MB freed
 * in the middle of the heap resident otherwise). */
static void release_free_memory(void)
{
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}
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

/* has_cursor_escape(data): whether terminal._CURSOR_ESCAPE matches somewhere in data, i.e.
 * ESC 7, ESC 8, or a CSI sequence whose final byte moves the cursor, erases or saves. */
static PyObject *has_cursor_escape(PyObject *self, PyObject *arg)
{
    Py_buffer view;
    const unsigned char *s, *esc;
    Py_ssize_t n, i = 0, k;
    int found = 0;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    s = view.buf;
    n = view.len;
    while (!found && i < n && (esc = memchr(s + i, 0x1b, (size_t)(n - i))) != NULL) {
        i = esc - s + 1;
        if (i < n && (s[i] == '7' || s[i] == '8')) {
            found = 1;
        } else if (i < n && s[i] == '[') {
            k = i + 1;
            while (k < n && IN(s[k], 0x30, 0x3F))
                k++;
            while (k < n && IN(s[k], 0x20, 0x2F))
                k++;
            found = k < n && (IN(s[k], 'A', 'H') || s[k] == 'J' || s[k] == 'K' || s[k] == 'f' ||
                              s[k] == 's' || s[k] == 'u');
        }
    }
    PyBuffer_Release(&view);
    return PyBool_FromLong(found);
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
        uint64_t word;
        if (n - i >= 8) { /* eight ASCII bytes at a time */
            memcpy(&word, s + i, 8);
            if ((word & 0x8080808080808080ULL) == 0) {
                i += 8;
                continue;
            }
        }
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

/* line_starts(data): the offset of the start of every line of text whose lines all end
 * with a newline, as native 64-bit integers (8 bytes a line, not a Python int each). */
static PyObject *line_starts(PyObject *self, PyObject *arg)
{
    Py_buffer view;
    PyObject *result;
    const char *s, *newline;
    long long *starts;
    Py_ssize_t lines, i = 0, k = 0;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    s = view.buf;
    lines = newlines_in(view.buf, view.len);
    result = PyBytes_FromStringAndSize(NULL, lines * (Py_ssize_t)sizeof(long long));
    if (result == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    starts = (long long *)PyBytes_AS_STRING(result);
    while (k < lines && (newline = memchr(s + i, '\n', (size_t)(view.len - i))) != NULL) {
        starts[k++] = i;
        i = newline - s + 1;
    }
    PyBuffer_Release(&view);
    return result;
}

/* A 64-bit hash of the bytes of s[0..n) but the digits: they are copied out 4 KB of
 * kept bytes at a time (a store per byte, a digit overwritten by the next byte; blocks
 * cut by what is kept, so that equal keys are cut alike), and each block is mixed in 8
 * bytes at a time, each step a multiply and a rotate. */
static unsigned long long hash_without_digits(const unsigned char *s, Py_ssize_t n)
{
    enum { KEPT = 4096 };
    unsigned char kept[KEPT + 8];
    unsigned long long h = 0x9E3779B97F4A7C15ULL, word;
    Py_ssize_t i = 0;
    while (i < n) {
        Py_ssize_t j = 0;
        for (; i < n && j < KEPT; i++) {
            kept[j] = s[i];
            j += !DIGIT(s[i]);
        }
        memset(kept + j, 0, 8);
        for (Py_ssize_t at = 0; at < j; at += 8) {
            memcpy(&word, kept + at, 8);
            h = (h ^ word) * 0xFF51AFD7ED558CCDULL;
            h = (h << 31) | (h >> 33);
        }
        h ^= (unsigned long long)j; /* the length of what each block kept */
    }
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ULL;
    return h ^ (h >> 33);
}

/* key_hashes(data, starts, stops): for each line data[starts[k]:stops[k]) (native
 * 64-bit offsets), a 64-bit hash of its bytes but the digits: the failure-line finder's
 * repeat_key, hashed, without making a bytes object per line. */
static PyObject *key_hashes(PyObject *self, PyObject *args)
{
    Py_buffer data, starts, stops;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*y*y*", &data, &starts, &stops))
        return NULL;
    Py_ssize_t lines = starts.len / (Py_ssize_t)sizeof(long long);
    if (stops.len != starts.len || starts.len % (Py_ssize_t)sizeof(long long)) {
        PyErr_SetString(PyExc_ValueError, "key_hashes: starts and stops must be int64 arrays of one length");
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, lines * (Py_ssize_t)sizeof(unsigned long long));
    if (result == NULL)
        goto done;
    const long long *from = starts.buf, *to = stops.buf;
    const unsigned char *text = data.buf;
    unsigned long long *hashes = (unsigned long long *)PyBytes_AS_STRING(result);
    for (Py_ssize_t k = 0; k < lines; k++) {
        if (from[k] < 0 || to[k] < from[k] || to[k] > data.len) {
            Py_CLEAR(result);
            PyErr_SetString(PyExc_ValueError, "key_hashes: a line lies outside the data");
            goto done;
        }
        hashes[k] = hash_without_digits(text + from[k], to[k] - from[k]);
    }
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&starts);
    PyBuffer_Release(&stops);
    return result;
}

#ifdef HAVE_PREAD
/* The (fd, offset, size) arguments of the file helpers. */
static int file_range(PyObject *args, int *fd, long long *offset, Py_ssize_t *size)
{
    if (!PyArg_ParseTuple(args, "iLn", fd, offset, size))
        return -1;
    if (*size < 0 || *offset < 0) {
        PyErr_SetString(PyExc_ValueError, "offset and size must not be negative");
        return -1;
    }
    return 0;
}

/* read_file(fd, offset, size, whole_lines=False): up to `size` bytes of the file from
 * `offset`, as bytes (in huge pages where the buffer is large). With whole_lines, a read
 * that filled `size` ends after its last newline (when it holds one): the buffer shrinks
 * in place, where slicing it to a line end would copy it. */
static PyObject *read_file(PyObject *self, PyObject *args)
{
    int fd, whole_lines = 0;
    Py_ssize_t size, got = 0, r = 0;
    long long offset;
    PyObject *result;
    char *buffer;
    if (!PyArg_ParseTuple(args, "iLn|p", &fd, &offset, &size, &whole_lines))
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
    ask_huge_pages(buffer, size);
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
    if (whole_lines && got == size && size > 0) {
        Py_ssize_t last = size - 1;
        while (last >= 0 && buffer[last] != '\n')
            last--;
        if (last >= 0)
            got = last + 1;
    }
    if (got < size - size / 8) { /* the file shrank, or whole lines left much out */
        if (_PyBytes_Resize(&result, got) < 0)
            return NULL;
    } else if (got < size) {
        /* Whole lines left out the start of the last one: the block keeps its memory, as
         * a shorter bytes object. A realloc would move the next block's allocation onto
         * fresh pages, and fresh pages (zeroed by the kernel) cost more than the read. */
        Py_SET_SIZE(result, got);
        buffer[got] = '\0';
    }
    return result;
}

/* count_file_newlines(fd, offset, size): newlines in that part of a file, read with pread
 * through a small buffer (the part is not kept; a file that shrank counts what is left). */
static PyObject *count_file_newlines(PyObject *self, PyObject *args)
{
    int fd;
    long long offset;
    Py_ssize_t size, total = 0, r = 0;
    /* Small enough to stay in the CPU's cache: the kernel's copy into it and the count
     * after then run at cache speed (a 1 MB buffer made this three times slower). */
    const Py_ssize_t buffer_size = 64 * 1024;
    char *buffer;
    if (file_range(args, &fd, &offset, &size) < 0)
        return NULL;
    buffer = malloc((size_t)buffer_size);
    if (buffer == NULL)
        return PyErr_NoMemory();
    Py_BEGIN_ALLOW_THREADS
    while (size > 0) {
        r = pread(fd, buffer, (size_t)(size < buffer_size ? size : buffer_size), (off_t)offset);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        total += newlines_in((const unsigned char *)buffer, r);
        offset += r;
        size -= r;
    }
    Py_END_ALLOW_THREADS
    free(buffer);
    if (r < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    return PyLong_FromSsize_t(total);
}
#endif

/* join_chunks(pieces): b"".join(pieces) for a list of bytes, emptying the list as it
 * goes: each piece is freed once copied, so the peak is the result and little more
 * (glibc is asked to return the freed pages meanwhile). */
static PyObject *join_chunks(PyObject *self, PyObject *pieces)
{
    Py_ssize_t n, total = 0, done = 0, since_release = 0;
    PyObject *result;
    char *out;
    if (!PyList_Check(pieces)) {
        PyErr_SetString(PyExc_TypeError, "join_chunks takes a list of bytes");
        return NULL;
    }
    n = PyList_GET_SIZE(pieces);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyBytes_Check(PyList_GET_ITEM(pieces, i))) {
            PyErr_SetString(PyExc_TypeError, "join_chunks takes a list of bytes");
            return NULL;
        }
        total += PyBytes_GET_SIZE(PyList_GET_ITEM(pieces, i));
    }
    result = PyBytes_FromStringAndSize(NULL, total);
    if (result == NULL)
        return NULL;
    out = PyBytes_AS_STRING(result);
    ask_huge_pages(out, total);
    release_free_memory(); /* what the work before left free in the heap */
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *piece = PyList_GET_ITEM(pieces, i);
        Py_ssize_t size = PyBytes_GET_SIZE(piece);
        memcpy(out + done, PyBytes_AS_STRING(piece), (size_t)size);
        done += size;
        since_release += size;
        Py_INCREF(Py_None);
        PyList_SET_ITEM(pieces, i, Py_None); /* the piece goes */
        Py_DECREF(piece);
        if (since_release >= 8 * 1024 * 1024) {
            release_free_memory();
            since_release = 0;
        }
    }
    if (PyList_SetSlice(pieces, 0, n, NULL) < 0) {
        Py_DECREF(result);
        return NULL;
    }
    return result;
}

/* ---- Text: one growing buffer that becomes a bytes object without a copy ----
 *
 * Stripped text is written into it piece by piece; take() resizes it to what was
 * written (realloc: a large block is remapped, not copied). A log's text then
 * costs one buffer of fresh memory, where separate pieces joined at the end cost
 * two, and fresh pages (the kernel zeroes each) are what reading a large log
 * spends most time on. */
typedef struct {
    PyObject_HEAD
    PyObject *bytes; /* the buffer: a bytes object of `cap` bytes, the first `len` written */
    Py_ssize_t len, cap;
} Text;

static PyTypeObject TextType;

/* Room for `need` bytes in all (the GIL held: the buffer is a Python object). */
static int text_reserve(Text *t, Py_ssize_t need)
{
    Py_ssize_t cap = t->cap ? t->cap : 64 * 1024;
    if (need <= t->cap)
        return 0;
    while (cap < need) {
        if (cap > PY_SSIZE_T_MAX / 2) {
            PyErr_NoMemory();
            return -1;
        }
        cap += cap / 2;
    }
    if (t->bytes == NULL)
        t->bytes = PyBytes_FromStringAndSize(NULL, cap);
    else if (_PyBytes_Resize(&t->bytes, cap) < 0) /* frees the text on failure */
        t->len = 0;
    if (t->bytes == NULL) {
        t->cap = 0;
        return -1;
    }
    ask_huge_pages(PyBytes_AS_STRING(t->bytes), cap);
    t->cap = cap;
    return 0;
}

static int text_append(Text *t, const char *data, Py_ssize_t n)
{
    if (n == 0)
        return 0;
    if (text_reserve(t, t->len + n) < 0)
        return -1;
    memcpy(PyBytes_AS_STRING(t->bytes) + t->len, data, (size_t)n);
    t->len += n;
    return 0;
}

static PyObject *text_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *keywords[] = {"capacity", NULL};
    Py_ssize_t capacity = 0;
    Text *t;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|n:Text", keywords, &capacity))
        return NULL;
    t = (Text *)type->tp_alloc(type, 0);
    if (t != NULL && capacity > 0 && text_reserve(t, capacity) < 0) {
        Py_DECREF(t);
        return NULL;
    }
    return (PyObject *)t;
}

static void text_dealloc(Text *t)
{
    Py_XDECREF(t->bytes);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

static Py_ssize_t text_length(Text *t) { return t->len; }

static PyObject *text_append_method(Text *t, PyObject *arg)
{
    Py_buffer view;
    int status;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    status = text_append(t, view.buf, view.len);
    PyBuffer_Release(&view);
    if (status < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* take(limit=-1): (the text, lines dropped); the Text is empty after. With a limit, the
 * text keeps its last `limit` bytes, from the first line start that leaves no more
 * (as logtext._Tail does), moved to the front of the buffer. */
static PyObject *text_take(Text *t, PyObject *args)
{
    Py_ssize_t limit = -1, drop = 0, dropped_lines = 0;
    PyObject *result;
    char *buffer;
    if (!PyArg_ParseTuple(args, "|n:take", &limit))
        return NULL;
    if (t->len == 0) {
        Py_CLEAR(t->bytes);
        t->cap = 0;
        return Py_BuildValue("(y#n)", "", (Py_ssize_t)0, (Py_ssize_t)0);
    }
    buffer = PyBytes_AS_STRING(t->bytes);
    if (limit >= 0 && t->len > limit) {
        const char *newline = memchr(buffer + (t->len - limit - 1), '\n', (size_t)(limit + 1));
        drop = newline ? newline - buffer + 1 : t->len;
        dropped_lines = newlines_in((const unsigned char *)buffer, drop);
        memmove(buffer, buffer + drop, (size_t)(t->len - drop));
        t->len -= drop;
    }
    if (t->len < t->cap && _PyBytes_Resize(&t->bytes, t->len) < 0) {
        t->len = t->cap = 0;
        return NULL;
    }
    result = Py_BuildValue("(Nn)", t->bytes, dropped_lines);
    t->bytes = NULL;
    t->len = t->cap = 0;
    return result;
}

static PyMethodDef text_methods[] = {
    {"append", (PyCFunction)text_append_method, METH_O, "Add bytes at the end."},
    {"take", (PyCFunction)text_take, METH_VARARGS,
     "(the text as bytes, lines dropped): with a limit, its last `limit` bytes from a line "
     "start on; the Text is empty after."},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods text_as_sequence = {.sq_length = (lenfunc)text_length};

static PyTypeObject TextType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "citriage.scanner._cstrip.Text",
    .tp_basicsize = sizeof(Text),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A growing buffer of text that take() turns into bytes without a copy.",
    .tp_new = text_new,
    .tp_dealloc = (destructor)text_dealloc,
    .tp_methods = text_methods,
    .tp_as_sequence = &text_as_sequence,
};

/* ---- The terminal emulator of terminal._Emulator, in C ----
 *
 * The same screen model: lines of UTF-8 text whose columns are characters, the
 * cursor's line and WINDOW lines above it (a ring), line feed implying carriage
 * return, cursor moves bounded as in Python. Input is valid UTF-8 (the caller
 * replaces bad bytes first). feed() returns the lines that left the window,
 * right-trimmed, each with its newline; finish() the rest.
 */
#define WINDOW 500
#define RING (WINDOW + 1)
#define COLUMN_LIMIT (16 * 1024)
#define NUMBER_LIMIT 999999999

typedef struct {
    char *text;
    Py_ssize_t len, cap; /* bytes */
    Py_ssize_t cols;     /* characters */
} Line;

typedef struct {
    char *text;
    Py_ssize_t len, cap;
} Buffer;

typedef struct {
    PyObject_HEAD
    Line lines[RING];
    int first, count; /* ring slot of the window's top line; lines held */
    Py_ssize_t row, col, saved_row, saved_col;
    int scrolled;
    Py_ssize_t lost_moves;
    Py_ssize_t clip;    /* final lines longer than this many bytes are cut; 0: none are */
    Py_ssize_t clipped; /* lines cut so */
    Buffer done;        /* final lines not yet returned */
    int busy;
} Emulator;

static int reserve(char **text, Py_ssize_t *cap, Py_ssize_t need)
{
    char *grown;
    Py_ssize_t size = *cap ? *cap : 64;
    if (need <= *cap)
        return 0;
    while (size < need)
        size *= 2;
    grown = realloc(*text, (size_t)size);
    if (grown == NULL)
        return -1;
    *text = grown;
    *cap = size;
    return 0;
}

#define LINE_AT(e, r) (&(e)->lines[((e)->first + (r)) % RING])
#define IS_LEAD(c) (((c) & 0xC0) != 0x80) /* starts a UTF-8 character */

/* Byte offset of column `col` in the line (col <= line->cols). */
static Py_ssize_t offset_of(const Line *line, Py_ssize_t col)
{
    Py_ssize_t i = 0, seen = 0;
    if (line->len == line->cols) /* all ASCII */
        return col;
    while (i < line->len) {
        if (IS_LEAD((unsigned char)line->text[i])) {
            if (seen == col)
                return i;
            seen++;
        }
        i++;
    }
    return line->len;
}

/* Replace text[from:to) of the line with `n` bytes of `with` (NULL: spaces). */
static int splice(Line *line, Py_ssize_t from, Py_ssize_t to, const char *with, Py_ssize_t n)
{
    Py_ssize_t len = line->len - (to - from) + n;
    if (reserve(&line->text, &line->cap, len) < 0)
        return -1;
    memmove(line->text + from + n, line->text + to, (size_t)(line->len - to));
    if (with)
        memcpy(line->text + from, with, (size_t)n);
    else
        memset(line->text + from, ' ', (size_t)n);
    line->len = len;
    return 0;
}

static int is_blank(const Line *line)
{
    for (Py_ssize_t i = 0; i < line->len; i++) {
        if (line->text[i] != ' ' && line->text[i] != '\t')
            return 0;
    }
    return 1;
}

/* A final line to `done`, right-trimmed, with its newline. */
static int emit(Emulator *e, const Line *line)
{
    Py_ssize_t n = line->len;
    while (n > 0 && (line->text[n - 1] == ' ' || line->text[n - 1] == '\t'))
        n--;
    if (e->clip && n > e->clip) { /* cut, not splitting a UTF-8 character */
        n = e->clip;
        while (n > 0 && !IS_LEAD((unsigned char)line->text[n]))
            n--;
        e->clipped++;
    }
    if (reserve(&e->done.text, &e->done.cap, e->done.len + n + 1) < 0)
        return -1;
    memcpy(e->done.text + e->done.len, line->text, (size_t)n);
    e->done.len += n;
    e->done.text[e->done.len++] = '\n';
    return 0;
}

static int move_to_row(Emulator *e, Py_ssize_t row)
{
    if (row < 0) {
        e->lost_moves += e->scrolled;
        row = 0;
    }
    while (row >= e->count) {
        Line *fresh;
        if (e->count == RING) { /* the top line leaves the window */
            if (emit(e, LINE_AT(e, 0)) < 0)
                return -1;
            e->first = (e->first + 1) % RING;
            e->count--;
            row--;
            e->saved_row--;
            e->scrolled = 1;
        }
        fresh = LINE_AT(e, e->count);
        fresh->len = fresh->cols = 0;
        e->count++;
    }
    e->row = row;
    return 0;
}

/* Write `n` bytes (`cols` characters) of text at the cursor. */
static int write_text(Emulator *e, const char *text, Py_ssize_t n, Py_ssize_t cols)
{
    Line *line = LINE_AT(e, e->row);
    Py_ssize_t from, to;
    if (line->cols < e->col) { /* pad to the cursor */
        if (splice(line, line->len, line->len, NULL, e->col - line->cols) < 0)
            return -1;
        line->cols = e->col;
    }
    if (line->cols == e->col) { /* the usual case: at the end of the line */
        from = to = line->len;
    } else {
        from = offset_of(line, e->col);
        to = e->col + cols >= line->cols ? line->len : offset_of(line, e->col + cols);
    }
    if (splice(line, from, to, text, n) < 0)
        return -1;
    if (e->col + cols > line->cols)
        line->cols = e->col + cols;
    e->col += cols;
    return 0;
}

/* The line cut at the cursor (erase to its end). */
static void cut_at_cursor(Emulator *e)
{
    Line *line = LINE_AT(e, e->row);
    if (e->col < line->cols) {
        line->len = offset_of(line, e->col);
        line->cols = e->col;
    }
}

static Py_ssize_t clamp(Py_ssize_t value, Py_ssize_t limit) { return value < limit ? value : limit; }

static int restore(Emulator *e)
{
    e->col = e->saved_col;
    return move_to_row(e, e->saved_row);
}

/* A CSI sequence: parameters p[0..n), final byte `final`. */
static int csi(Emulator *e, const unsigned char *p, Py_ssize_t n, unsigned char final)
{
    Py_ssize_t numbers[2] = {0, 0}, i = 0, count;
    int which = 0, digits_only = 1, any = 0;
    if (final == 's') {
        e->saved_row = e->row;
        e->saved_col = e->col;
        return 0;
    }
    if (final == 'u')
        return restore(e);
    if (!IN(final, 'A', 'K') && final != 'f') /* moves and erases; colours and the rest do nothing */
        return 0;
    while (i < n && p[i] == '?')
        i++;
    /* The first two ';'-separated parameters; a part that is not all digits is 0. */
    for (; i <= n && which < 2; i++) {
        if (i == n || p[i] == ';') {
            if (!digits_only || !any)
                numbers[which] = 0;
            which++;
            digits_only = 1;
            any = 0;
        } else if (DIGIT(p[i])) {
            any = 1;
            numbers[which] = clamp(numbers[which] * 10 + (p[i] - '0'), NUMBER_LIMIT);
        } else {
            digits_only = 0;
        }
    }
    count = which; /* parameters read (the Python side splits them all; only two matter) */
    Py_ssize_t step = numbers[0] > 1 ? numbers[0] : 1;
    switch (final) {
    case 'A':
        return move_to_row(e, e->row - step);
    case 'B':
        return move_to_row(e, e->row + clamp(step, WINDOW));
    case 'C':
        if (e->col < COLUMN_LIMIT)
            e->col = clamp(e->col + step, COLUMN_LIMIT);
        return 0;
    case 'D':
        e->col = e->col > step ? e->col - step : 0;
        return 0;
    case 'E':
        e->col = 0;
        return move_to_row(e, e->row + clamp(step, WINDOW));
    case 'F':
        e->col = 0;
        return move_to_row(e, e->row - step);
    case 'G':
        e->col = clamp(step, COLUMN_LIMIT) - 1;
        return 0;
    case 'H':
    case 'f':
        e->col = clamp(count > 1 && numbers[1] > 1 ? numbers[1] : 1, COLUMN_LIMIT) - 1;
        return 0;
    case 'K': {
        Line *line = LINE_AT(e, e->row);
        if (numbers[0] == 0) {
            cut_at_cursor(e);
        } else if (numbers[0] == 1) { /* from the start of the line through the cursor */
            Py_ssize_t keep = e->col + 1 < line->cols ? offset_of(line, e->col + 1) : line->len;
            Py_ssize_t kept_cols = e->col + 1 < line->cols ? line->cols - (e->col + 1) : 0;
            if (splice(line, 0, keep, NULL, e->col + 1) < 0)
                return -1;
            line->cols = e->col + 1 + kept_cols;
        } else {
            line->len = line->cols = 0;
        }
        return 0;
    }
    case 'J':
        if (numbers[0] == 0) {
            cut_at_cursor(e);
            e->count = (int)e->row + 1;
        }
        return 0;
    }
    return 0;
}

/* Skip the escape sequence at s[i] == ESC (as escape_end: the same alternatives as
 * terminal._EMULATOR_TOKEN), acting on the ones that move the cursor. */
static Py_ssize_t escape(Emulator *e, const unsigned char *s, Py_ssize_t i, Py_ssize_t n, int *failed)
{
    Py_ssize_t end = escape_end(s, i, n), params_end;
    if (end < 0) /* not a sequence: the ESC alone */
        return i + 1;
    if (s[i + 1] == '7') {
        e->saved_row = e->row;
        e->saved_col = e->col;
    } else if (s[i + 1] == '8') {
        *failed = restore(e) < 0;
    } else if (s[i + 1] == '[' && end > i + 2) { /* CSI with its final byte */
        params_end = i + 2;
        while (IN(s[params_end], 0x30, 0x3F))
            params_end++;
        *failed = csi(e, s + i + 2, params_end - (i + 2), s[end - 1]) < 0;
    }
    return end;
}

/* End of the text starting at s[i] (up to a control other than tab); *cols counts its
 * characters. SSE2 looks at 16 bytes at a time. */
static Py_ssize_t text_end(const unsigned char *s, Py_ssize_t i, Py_ssize_t n, Py_ssize_t *cols)
{
    Py_ssize_t count = 0;
#if defined(__SSE2__) && defined(__GNUC__)
    const __m128i high3 = _mm_set1_epi8((char)0xE0), high2 = _mm_set1_epi8((char)0xC0);
    const __m128i tab = _mm_set1_epi8('\t'), continuation = _mm_set1_epi8((char)0x80);
    while (n - i >= 16) {
        __m128i block = _mm_loadu_si128((const __m128i *)(s + i));
        __m128i control = _mm_cmpeq_epi8(_mm_and_si128(block, high3), _mm_setzero_si128());
        unsigned stops = (unsigned)_mm_movemask_epi8(_mm_andnot_si128(_mm_cmpeq_epi8(block, tab), control));
        unsigned trailing = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_and_si128(block, high2), continuation));
        /* (popcount is a library call without -mpopcnt: only where there are non-ASCII bytes) */
        if (stops) {
            unsigned at = (unsigned)__builtin_ctz(stops);
            *cols = count + at - (trailing ? __builtin_popcount(trailing & ((1u << at) - 1)) : 0);
            return i + at;
        }
        count += 16 - (trailing ? __builtin_popcount(trailing) : 0);
        i += 16;
    }
#endif
    while (i < n && (s[i] >= 0x20 || s[i] == '\t')) {
        count += IS_LEAD(s[i]);
        i++;
    }
    *cols = count;
    return i;
}

/* Emulate s[0:n); with `timestamps`, a GitHub Actions timestamp at the start of a line of
 * the input is skipped (as strip_timestamps would have removed it, without its copy). */
static int emulate(Emulator *e, const unsigned char *s, Py_ssize_t n, int timestamps)
{
    Py_ssize_t i = 0, start, cols, stamp;
    int failed = 0;
    if (timestamps && (stamp = timestamp_end(s, 0, n)) >= 0)
        i = stamp;
    while (i < n && !failed) {
        unsigned char c = s[i];
        if (c >= 0x20 || c == '\t') { /* text: up to the next control other than tab */
            start = i;
            i = text_end(s, i, n, &cols);
            failed = write_text(e, (const char *)s + start, i - start, cols) < 0;
        } else if (c == '\n') {
            failed = move_to_row(e, e->row + 1) < 0;
            e->col = 0;
            i++;
            if (timestamps && (stamp = timestamp_end(s, i, n)) >= 0)
                i = stamp;
        } else if (c == '\r') {
            e->col = 0;
            i++;
        } else if (c == 0x08) {
            e->col = e->col > 0 ? e->col - 1 : 0;
            i++;
        } else if (c == 0x1b) {
            i = escape(e, s, i, n, &failed);
        } else { /* other controls show nothing */
            i++;
        }
    }
    return failed ? -1 : 0;
}

static PyObject *emulator_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *keywords[] = {"clip", NULL};
    Py_ssize_t clip = 0;
    Emulator *e;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|$n:Emulator", keywords, &clip))
        return NULL;
    if (clip < 0) {
        PyErr_SetString(PyExc_ValueError, "clip must not be negative");
        return NULL;
    }
    e = (Emulator *)type->tp_alloc(type, 0); /* zeroed: one empty line follows */
    if (e != NULL) {
        e->count = 1;
        e->clip = clip;
    }
    return (PyObject *)e;
}

static void emulator_dealloc(Emulator *e)
{
    for (int r = 0; r < RING; r++)
        free(e->lines[r].text);
    free(e->done.text);
    Py_TYPE(e)->tp_free((PyObject *)e);
}

/* The final lines gathered so far, as bytes, or appended to `into` (then b""); none kept. */
static PyObject *take_done(Emulator *e, Text *into)
{
    PyObject *result;
    if (into != NULL)
        result = text_append(into, e->done.text, e->done.len) < 0 ? NULL : PyBytes_FromStringAndSize(NULL, 0);
    else
        result = PyBytes_FromStringAndSize(e->done.text, e->done.len);
    e->done.len = 0;
    if (e->done.cap > 64 * 1024 * 1024) { /* give back what one huge chunk needed */
        free(e->done.text);
        e->done.text = NULL;
        e->done.cap = 0;
    }
    return result;
}

/* Every line still held to `done`, and a fresh screen. */
static int finish(Emulator *e)
{
    int last = e->count - 1;
    /* A final blank line is the one the last newline opened (or blanks written there). */
    if (is_blank(LINE_AT(e, last)))
        last--;
    for (int r = 0; r <= last; r++) {
        if (emit(e, LINE_AT(e, r)) < 0)
            return -1;
    }
    e->first = 0;
    e->count = 1;
    e->lines[0].len = e->lines[0].cols = 0;
    e->row = e->col = e->saved_row = e->saved_col = 0;
    return 0;
}

/* Emulate a chunk (then finish, when `then_finish`); the final lines as bytes. */
static PyObject *run(Emulator *e, PyObject *arg, PyObject *into, int timestamps, int then_finish)
{
    Py_buffer view;
    int status;
    if (into == Py_None)
        into = NULL;
    if (into != NULL && !PyObject_TypeCheck(into, &TextType)) {
        PyErr_SetString(PyExc_TypeError, "into must be a Text");
        return NULL;
    }
    if (e->busy) {
        PyErr_SetString(PyExc_RuntimeError, "Emulator used from two threads at once");
        return NULL;
    }
    if (arg != NULL && PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    e->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    status = arg != NULL ? emulate(e, view.buf, view.len, timestamps) : 0;
    if (status == 0 && then_finish)
        status = finish(e);
    Py_END_ALLOW_THREADS
    e->busy = 0;
    if (arg != NULL)
        PyBuffer_Release(&view);
    if (status < 0)
        return PyErr_NoMemory();
    return take_done(e, (Text *)into);
}

static PyObject *emulator_feed(Emulator *e, PyObject *args)
{
    PyObject *chunk, *into = NULL;
    int timestamps = 0;
    if (!PyArg_ParseTuple(args, "O|Op:feed", &chunk, &into, &timestamps))
        return NULL;
    return run(e, chunk, into, timestamps, 0);
}

static PyObject *emulator_finish(Emulator *e, PyObject *args)
{
    PyObject *into = NULL;
    if (!PyArg_ParseTuple(args, "|O:finish", &into))
        return NULL;
    return run(e, NULL, into, 0, 1);
}

static PyObject *emulator_feed_all(Emulator *e, PyObject *args)
{
    PyObject *chunk, *into = NULL;
    int timestamps = 0;
    if (!PyArg_ParseTuple(args, "O|Op:feed_all", &chunk, &into, &timestamps))
        return NULL;
    return run(e, chunk, into, timestamps, 1);
}

static PyMethodDef emulator_methods[] = {
    {"feed", (PyCFunction)emulator_feed, METH_VARARGS,
     "Emulate a chunk of valid UTF-8; the lines that became final, each with a newline "
     "(appended to `into`, a Text, when given: then b\"\"). With `timestamps`, a GitHub "
     "Actions timestamp starting a line of the chunk is skipped."},
    {"finish", (PyCFunction)emulator_finish, METH_VARARGS,
     "The lines still held, as final (or appended to `into`); the emulator starts over."},
    {"feed_all", (PyCFunction)emulator_feed_all, METH_VARARGS,
     "feed(chunk) + finish() in one go (one copy of the text)."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef emulator_members[] = {
    {"lost_moves", T_PYSSIZET, offsetof(Emulator, lost_moves), READONLY,
     "Cursor moves that aimed above the window (they stopped at its top)."},
    {"clipped", T_PYSSIZET, offsetof(Emulator, clipped), READONLY,
     "Final lines cut at `clip` bytes."},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject EmulatorType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "citriage.scanner._cstrip.Emulator",
    .tp_basicsize = sizeof(Emulator),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The terminal emulator of terminal._Emulator, in C.",
    .tp_new = emulator_new,
    .tp_dealloc = (destructor)emulator_dealloc,
    .tp_methods = emulator_methods,
    .tp_members = emulator_members,
};

static PyMethodDef methods[] = {
    {"count_newlines", count_newlines, METH_VARARGS, "Newlines in data[start:end]."},
    {"key_hashes", key_hashes, METH_VARARGS,
     "64-bit hashes of lines data[starts[k]:stops[k]] without their digits."},
    {"line_starts", line_starts, METH_O,
     "Offsets of the starts of the lines (all ending with a newline), as 64-bit integers."},
    {"join_chunks", join_chunks, METH_O,
     "b''.join(pieces) for a list of bytes, emptying the list as it goes (bounded peak)."},
#ifdef HAVE_PREAD
    {"read_file", read_file, METH_VARARGS,
     "Up to size bytes of a file from offset (pread; huge pages asked for); with whole_lines, "
     "a full read ends after its last newline."},
    {"count_file_newlines", count_file_newlines, METH_VARARGS,
     "Newlines in size bytes of a file from offset (pread through a small buffer)."},
#endif
    {"has_cursor_escape", has_cursor_escape, METH_O,
     "Whether an escape that moves the cursor, erases or saves/restores it is there."},
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

PyMODINIT_FUNC PyInit__cstrip(void)
{
    PyObject *m;
    if (PyType_Ready(&EmulatorType) < 0 || PyType_Ready(&TextType) < 0)
        return NULL;
    m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Emulator", (PyObject *)&EmulatorType) < 0
        || PyModule_AddObjectRef(m, "Text", (PyObject *)&TextType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
