/* TF Serving's JSON <-> float tensor conversions, in C for the REST predict hot path.
 *
 * serving/json_tensor.py keeps the general, careful code (every dtype, TF Serving's error texts)
 * and is the reference these two functions are tested against; they cover the common case:
 *
 *   pack(value, double) -> (bytearray, shape) | None
 *       Nested lists of JSON numbers (already parsed by json.loads) as one float32 (or float64)
 *       buffer in C order. None when the value is not a full rectangular array of ints and
 *       floats (bools, strings, ragged or empty lists, ints beyond a double): the caller then
 *       takes the careful path, which also words the error.
 *
 *   rows(array) -> str
 *       A C-contiguous [N, K] float32 array as TF Serving writes it: "[a, b], [c, d]". Each value
 *       as util/json_tensor.cc's WriteDecimal -> FloatToBuffer: "%.6g", or "%.9g" when the short
 *       text does not parse back (strtof) to the same float; NaN and +-Infinity spelled out; a
 *       ".0" added to integral texts, as RapidJSON's writer does. The digits are computed exactly
 *       in 128-bit integers for magnitudes from about 1e-23 to 1e6, by snprintf and strtof
 *       beyond; the two agree on every finite float32 (all 2^32 bit patterns were compared once).
 *
 * Built by serving/build_ext.sh: make setup, and the model-server and trainer images' build
 * stages.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RANK 32
#define MAX_FLOAT_TEXT 24 /* "-1.17549435e-38" is the longest %.9g of a float32; plus ".0" */

/* -- pack ------------------------------------------------------------------------------------ */

typedef struct {
    Py_ssize_t dims[MAX_RANK];
    int rank;
    int as_double;
    char *out;
    Py_ssize_t n; /* values written */
} Packer;

/* Every list at every depth has the length the first items set: checked before the buffer is
 * sized from those lengths, so a small body cannot ask for a huge allocation. */
static int rectangular(const Packer *p, PyObject *v, int depth) {
    if (depth == p->rank)
        return 1;
    if (!PyList_CheckExact(v) || PyList_GET_SIZE(v) != p->dims[depth])
        return 0;
    if (depth + 1 == p->rank)
        return 1; /* the leaves are checked while they are written */
    for (Py_ssize_t i = 0; i < p->dims[depth]; i++) {
        if (!rectangular(p, PyList_GET_ITEM(v, i), depth + 1))
            return 0;
    }
    return 1;
}

/* One leaf into the buffer. It must be an exact int or float: bool is an int subclass, and TF
 * Serving refuses it. An int that fits int64 is cast straight to float32 (one rounding, as
 * TF Serving's int64 -> float and numpy's astype do); a larger one goes through a double. */
static int put(Packer *p, PyObject *v) {
    double d;
    if (PyFloat_CheckExact(v)) {
        d = PyFloat_AS_DOUBLE(v);
    } else if (PyLong_CheckExact(v)) {
        int overflow = 0;
        long long i = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (!overflow && !p->as_double) {
            ((float *)p->out)[p->n++] = (float)i;
            return 1;
        }
        d = overflow ? PyLong_AsDouble(v) : (double)i;
        if (d == -1.0 && PyErr_Occurred()) {
            PyErr_Clear(); /* beyond a double: the careful path words the error */
            return 0;
        }
    } else {
        return 0;
    }
    if (p->as_double)
        ((double *)p->out)[p->n++] = d;
    else
        ((float *)p->out)[p->n++] = (float)d;
    return 1;
}

/* The leaves in C order; the lists are already known to be rectangular. */
static int fill(Packer *p, PyObject *v, int depth) {
    if (depth == p->rank)
        return put(p, v);
    for (Py_ssize_t i = 0; i < p->dims[depth]; i++) {
        if (!fill(p, PyList_GET_ITEM(v, i), depth + 1))
            return 0;
    }
    return 1;
}

static PyObject *pack(PyObject *self, PyObject *args) {
    PyObject *value;
    int as_double;
    if (!PyArg_ParseTuple(args, "Op:pack", &value, &as_double))
        return NULL;
    Packer p = {.rank = 0, .as_double = as_double, .n = 0};
    Py_ssize_t total = 1;
    for (PyObject *v = value; PyList_CheckExact(v); v = PyList_GET_ITEM(v, 0)) {
        Py_ssize_t len = PyList_GET_SIZE(v);
        if (len == 0 || p.rank == MAX_RANK)
            Py_RETURN_NONE; /* empty or absurdly deep: the careful path decides */
        p.dims[p.rank++] = len;
        if (total > PY_SSIZE_T_MAX / len / 8)
            Py_RETURN_NONE;
        total *= len;
    }
    if (!rectangular(&p, value, 0))
        Py_RETURN_NONE;
    Py_ssize_t size = total * (as_double ? sizeof(double) : sizeof(float));
    PyObject *buffer = PyByteArray_FromStringAndSize(NULL, size);
    if (buffer == NULL)
        return NULL;
    p.out = PyByteArray_AS_STRING(buffer);
    if (!fill(&p, value, 0)) {
        Py_DECREF(buffer);
        Py_RETURN_NONE;
    }
    PyObject *shape = PyTuple_New(p.rank);
    if (shape == NULL) {
        Py_DECREF(buffer);
        return NULL;
    }
    for (int i = 0; i < p.rank; i++) {
        PyObject *dim = PyLong_FromSsize_t(p.dims[i]);
        if (dim == NULL) {
            Py_DECREF(shape);
            Py_DECREF(buffer);
            return NULL;
        }
        PyTuple_SET_ITEM(shape, i, dim);
    }
    return Py_BuildValue("(NN)", buffer, shape);
}

/* -- rows ------------------------------------------------------------------------------------ */

typedef unsigned __int128 u128;

static u128 pow10_128[32]; /* 10^0 .. 10^31, filled at import */

/* |v| = m * 2^e rounded to p significant decimal digits, exactly and half to even as printf
 * rounds: *digits (p of them) and *exp10, the power of ten of the first digit. Also whether that
 * decimal parses back (strtof) to v: inside half a gap to the float on its side, or on the
 * midpoint with v's mantissa even. Works in 128-bit integers on v * 10^k = m * 10^k / 2^-e, which
 * covers about 1e-23 .. 1e6; returns 0 outside that, and the caller uses snprintf and strtof. */
static int decimal(uint32_t m, int e, int p, uint64_t *digits, int *exp10, int *round_trips) {
    int sh = -e;
    if (sh < 1 || sh > 126 || m < (1u << 23))
        return 0; /* |v| >= 2^24, or subnormal */
    int x = ((e + 23) * 78913 >> 18) - 1; /* floor(log10(2^(e+23))) - 1 <= floor(log10|v|) */
    for (int attempt = 0; attempt < 4; attempt++) {
        int k = p - 1 - x;
        if (k < 0 || k > 31)
            return 0;
        u128 a = (u128)m * pow10_128[k];
        u128 q = a >> sh;
        if (q >= pow10_128[p]) { /* x too low: one digit too many */
            x++;
            continue;
        }
        u128 rem = a - (q << sh), half = (u128)1 << (sh - 1), err;
        int below = !(rem > half || (rem == half && (q & 1)));
        if (below) {
            err = rem;
        } else {
            q++;
            err = ((u128)1 << sh) - rem;
        }
        /* one ulp of v, scaled like a, is 10^k; below a power of two the gap is half that */
        u128 ulp = pow10_128[k];
        if (below && m == (1u << 23) && e > -149)
            *round_trips = 4 * err <= ulp; /* a tie goes to v's even mantissa */
        else
            *round_trips = 2 * err < ulp || (2 * err == ulp && !(m & 1));
        if (q == pow10_128[p]) { /* rounded up to the next power of ten */
            q = pow10_128[p - 1];
            x++;
        }
        *digits = (uint64_t)q;
        *exp10 = x;
        return 1;
    }
    return 0;
}

/* printf's %.{p}g from p digits and the first digit's power of ten: trailing zeros dropped,
 * scientific notation (at least two exponent digits) when exp10 < -4 or exp10 >= p. */
static int write_g(char *out, int negative, uint64_t digits, int p, int exp10) {
    char d[20];
    int n = p;
    while (n > 1 && digits % 10 == 0) {
        digits /= 10;
        n--;
    }
    for (int i = n - 1; i >= 0; i--, digits /= 10)
        d[i] = (char)('0' + digits % 10);
    char *at = out;
    if (negative)
        *at++ = '-';
    if (exp10 < -4 || exp10 >= p) {
        *at++ = d[0];
        if (n > 1) {
            *at++ = '.';
            memcpy(at, d + 1, n - 1);
            at += n - 1;
        }
        *at++ = 'e';
        *at++ = exp10 < 0 ? '-' : '+';
        int x = exp10 < 0 ? -exp10 : exp10;
        if (x >= 100)
            *at++ = (char)('0' + x / 100);
        *at++ = (char)('0' + x / 10 % 10);
        *at++ = (char)('0' + x % 10);
    } else if (exp10 >= 0) {
        for (int i = 0; i <= exp10; i++)
            *at++ = i < n ? d[i] : '0';
        if (n > exp10 + 1) {
            *at++ = '.';
            memcpy(at, d + exp10 + 1, n - exp10 - 1);
            at += n - exp10 - 1;
        }
    } else {
        *at++ = '0';
        *at++ = '.';
        for (int i = 0; i < -exp10 - 1; i++)
            *at++ = '0';
        memcpy(at, d, n);
        at += n;
    }
    return (int)(at - out);
}

/* One value as FloatToBuffer writes it: %.6g if it round-trips, else %.9g. */
static int float_text(char *out, float v) {
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    uint32_t m = bits & 0x7fffff, biased = bits >> 23 & 0xff;
    if (biased) /* normal: the implicit leading bit */
        m |= 1u << 23;
    int e = (biased ? (int)biased : 1) - 150, negative = (int)(bits >> 31);
    uint64_t digits;
    int exp10, round_trips;
    if (decimal(m, e, FLT_DIG, &digits, &exp10, &round_trips)) {
        if (round_trips)
            return write_g(out, negative, digits, FLT_DIG, exp10);
        if (decimal(m, e, FLT_DIG + 3, &digits, &exp10, &round_trips))
            return write_g(out, negative, digits, FLT_DIG + 3, exp10);
    }
    int n = snprintf(out, MAX_FLOAT_TEXT, "%.*g", FLT_DIG, (double)v);
    if (strtof(out, NULL) != v)
        n = snprintf(out, MAX_FLOAT_TEXT, "%.*g", FLT_DIG + 3, (double)v);
    return n;
}

static int put_float(char *out, float v) {
    if (isnan(v)) {
        memcpy(out, "NaN", 3);
        return 3;
    }
    if (isinf(v)) {
        if (v > 0) {
            memcpy(out, "Infinity", 8);
            return 8;
        }
        memcpy(out, "-Infinity", 9);
        return 9;
    }
    int n = float_text(out, v);
    if (!memchr(out, '.', n) && !memchr(out, 'e', n)) { /* as RapidJSON writes a double */
        out[n++] = '.';
        out[n++] = '0';
    }
    return n;
}

static PyObject *rows(PyObject *self, PyObject *array) {
    Py_buffer view;
    if (PyObject_GetBuffer(array, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return NULL;
    if (view.ndim != 2 || view.format == NULL || strcmp(view.format, "f") != 0) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_TypeError, "rows() takes a C-contiguous [N, K] float32 array");
        return NULL;
    }
    Py_ssize_t n = view.shape[0], k = view.shape[1];
    const float *values = view.buf;
    /* per value: its text and ", "; per row: "[" "]" and ", " */
    char *text = PyMem_Malloc(n * k * (MAX_FLOAT_TEXT + 2) + n * 4 + 1);
    if (text == NULL) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    char *at = text;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i) {
            *at++ = ',';
            *at++ = ' ';
        }
        *at++ = '[';
        for (Py_ssize_t j = 0; j < k; j++) {
            if (j) {
                *at++ = ',';
                *at++ = ' ';
            }
            at += put_float(at, values[i * k + j]);
        }
        *at++ = ']';
    }
    PyBuffer_Release(&view);
    PyObject *out = PyUnicode_New(at - text, 127);
    if (out != NULL)
        memcpy(PyUnicode_1BYTE_DATA(out), text, at - text);
    PyMem_Free(text);
    return out;
}

static PyMethodDef methods[] = {
    {"pack", pack, METH_VARARGS,
     "pack(value, double) -> (bytearray, shape) | None: nested lists of numbers as one buffer"},
    {"rows", rows, METH_O, "rows(array) -> str: [N, K] float32 rows as TF Serving writes them"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "_jsonfloat",
    .m_doc = "TF Serving's JSON <-> float tensor conversions for the REST hot path.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__jsonfloat(void) {
    pow10_128[0] = 1;
    for (int i = 1; i < 32; i++)
        pow10_128[i] = pow10_128[i - 1] * 10;
    return PyModule_Create(&module);
}
