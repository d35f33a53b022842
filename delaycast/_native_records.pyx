# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""One plainly written record read and validated in C: a header-less CSV line, or a parsed JSON object.

A request for one flight spends microseconds here instead of tens in Python. Only the plainest form
of each value is read (upper-case codes, ISO dates, unsigned digits, JSON numbers of the field's own
type); anything else gives None, and the caller's general path reads it and names what is wrong. What
is read goes through the checks of the reference grammar (`delaycast.fields`: the field's range, HHMM
times, real calendar days), and comes out as the same values; property tests hold the two together.
"""

from cpython.datetime cimport date_new, import_datetime
from cpython.dict cimport PyDict_GetItem
from cpython.object cimport PyObject
from libc.math cimport NAN, isfinite, isnan

cdef extern from "Python.h":
    double PyOS_string_to_double(const char* text, char** end, PyObject* overflow) except? -1.0
    long long PyLong_AsLongLongAndOverflow(object number, int* overflow) except? -1

import_datetime()

cdef enum:
    MAX_FIELDS = 16
    MAX_WHOLE_DIGITS = 9
    MAX_HHMM_DIGITS = 4
    MAX_FRACTION_DIGITS = 17

cdef enum:  # the ASCII characters a plain record is written with
    LINE_FEED = 10
    CARRIAGE_RETURN = 13
    COMMA = 44
    DASH = 45
    POINT = 46
    DIGIT_0 = 48
    DIGIT_9 = 57
    LETTER_A = 65
    LETTER_Z = 90

cdef enum Kind:
    CARRIER
    AIRPORT
    DATE
    WHOLE
    HHMM
    DECIMAL

KINDS = {"carrier": CARRIER, "airport": AIRPORT, "date": DATE, "int": WHOLE, "hhmm": HHMM, "float": DECIMAL}


cdef class PlainRecordReader:
    """Reads one plain record of the given fields (`delaycast.fields.FIELDS`); None for anything else."""

    cdef int _count
    cdef int _last_required
    cdef Kind[MAX_FIELDS] _kinds
    cdef bint[MAX_FIELDS] _required
    cdef double[MAX_FIELDS] _low
    cdef double[MAX_FIELDS] _high
    cdef tuple _names
    cdef bint _readable

    def __cinit__(self, fields):
        if not 0 < len(fields) <= MAX_FIELDS:
            raise ValueError(f"{len(fields)} fields: the plain reader takes 1 to {MAX_FIELDS}")
        self._count = len(fields)
        self._names = tuple(field.name for field in fields)
        self._readable = True
        self._last_required = -1
        for i, field in enumerate(fields):
            if field.kind not in KINDS:  # a kind this reader does not know: every record takes the Python path
                self._readable = False
                return
            self._kinds[i] = KINDS[field.kind]
            self._required[i] = field.required
            self._low[i] = NAN if field.low is None else field.low
            self._high[i] = NAN if field.high is None else field.high
            if field.required:
                self._last_required = i

    def csv_line(self, bytes line):
        """The record of one header-less CSV line of plain cells in field order, else None.

        Cells of optional fields may be empty, and the line may end after any field past the last
        required one; one line end (\\n, \\r\\n or \\r) may close it.
        """
        cdef const unsigned char* text = line
        cdef Py_ssize_t length = len(line)
        cdef Py_ssize_t position = 0
        cdef Py_ssize_t start
        cdef int i
        if not self._readable:
            return None
        values = [None] * self._count
        for i in range(self._count):
            if i > 0:
                if i > self._last_required and _line_ends(text, position, length):
                    return tuple(values)
                if position >= length or text[position] != COMMA:
                    return None
                position += 1
            start = position
            while position < length and not _ends_cell(text[position]):
                position += 1
            if position == start:
                if self._required[i]:
                    return None
                continue
            value = self._cell(i, text + start, position - start)
            if value is None:
                return None
            values[i] = value
        return tuple(values) if _line_ends(text, position, length) else None

    def json_object(self, dict document):
        """The record of a JSON object of field names and plain values (strings for codes and dates,
        numbers for numeric fields, null for an absent optional field), else None."""
        cdef int found = 0
        cdef int i
        cdef PyObject* item
        if not self._readable:
            return None
        values = [None] * self._count
        for i in range(self._count):
            item = PyDict_GetItem(document, self._names[i])
            if item is not NULL:
                found += 1
            if item is NULL or <object>item is None:
                if self._required[i]:
                    return None
                continue
            value = self._json_value(i, <object>item)
            if value is None:
                return None
            values[i] = value
        return tuple(values) if found == len(document) else None

    cdef object _json_value(self, int i, object value):
        """The value of field i from a plain JSON value (not null), or None."""
        cdef Kind kind = self._kinds[i]
        cdef int overflow = 0
        cdef long long number
        if kind == CARRIER or kind == AIRPORT or kind == DATE:
            if type(value) is not str or not (<str>value).isascii():
                return None
            text = (<str>value).encode("ascii")
            return self._cell(i, text, len(text))
        if type(value) is float:
            return self._in_range(i, <double>value, value) if kind == DECIMAL and isfinite(<double>value) else None
        if type(value) is not int:
            return None
        number = PyLong_AsLongLongAndOverflow(value, &overflow)
        if overflow or (kind == HHMM and not _is_hhmm(number)):
            return None
        return self._in_range(i, <double>number, <double>number if kind == DECIMAL else value)

    cdef object _cell(self, int i, const unsigned char* text, Py_ssize_t length):
        """The value of one plain cell of field i, or None."""
        cdef Kind kind = self._kinds[i]
        if kind == CARRIER:
            return _code(text, length, 2, True)
        if kind == AIRPORT:
            return _code(text, length, 3, False)
        if kind == DATE:
            return _date(text, length)
        if kind == DECIMAL:
            return self._decimal(i, text, length)
        if not _all_digits(text, length) or length > (MAX_HHMM_DIGITS if kind == HHMM else MAX_WHOLE_DIGITS):
            return None
        cdef long number = _digits(text, length)
        if kind == HHMM and not _is_hhmm(number):
            return None
        return self._in_range(i, <double>number, number)

    cdef object _decimal(self, int i, const unsigned char* text, Py_ssize_t length):
        """`[0-9]{1,9}(.[0-9]{1,17})?` read as Python's float() reads it."""
        cdef Py_ssize_t point = 0
        while point < length and text[point] != POINT:
            point += 1
        if not 0 < point <= MAX_WHOLE_DIGITS or not _all_digits(text, point):
            return None
        if point < length and not (
            0 < length - point - 1 <= MAX_FRACTION_DIGITS and _all_digits(text + point + 1, length - point - 1)
        ):
            return None
        cdef char[MAX_WHOLE_DIGITS + MAX_FRACTION_DIGITS + 2] copy
        cdef Py_ssize_t k
        for k in range(length):
            copy[k] = text[k]
        copy[length] = 0
        cdef double number = PyOS_string_to_double(copy, NULL, NULL)
        return self._in_range(i, number, number)

    cdef object _in_range(self, int i, double number, object value):
        """`value` if `number` lies in field i's range (when it has one), else None."""
        if not isnan(self._low[i]) and number < self._low[i]:
            return None
        if not isnan(self._high[i]) and number > self._high[i]:
            return None
        return value


cdef bint _line_ends(const unsigned char* text, Py_ssize_t position, Py_ssize_t length) noexcept:
    """Whether only one line end, or nothing, is left from `position`."""
    cdef Py_ssize_t rest = length - position
    if rest == 0:
        return True
    if rest == 1:
        return text[position] == LINE_FEED or text[position] == CARRIAGE_RETURN
    return rest == 2 and text[position] == CARRIAGE_RETURN and text[position + 1] == LINE_FEED


cdef inline bint _ends_cell(unsigned char character) noexcept:
    return character == COMMA or character == LINE_FEED or character == CARRIAGE_RETURN


cdef bint _all_digits(const unsigned char* text, Py_ssize_t length) noexcept:
    cdef Py_ssize_t k
    for k in range(length):
        if not DIGIT_0 <= text[k] <= DIGIT_9:
            return False
    return True


cdef long _digits(const unsigned char* text, Py_ssize_t length) noexcept:
    cdef long number = 0
    cdef Py_ssize_t k
    for k in range(length):
        number = number * 10 + (text[k] - DIGIT_0)
    return number


cdef bint _is_hhmm(long long number) noexcept:
    """0000..2400 with minutes 00..59, as `delaycast.records` checks HHMM times."""
    return 0 <= number <= 2400 and number % 100 <= 59


cdef object _code(const unsigned char* text, Py_ssize_t length, Py_ssize_t size, bint digits):
    """An IATA code of `size` upper-case letters (or digits, for a carrier), as text; else None."""
    if length != size:
        return None
    cdef Py_ssize_t k
    for k in range(length):
        if not (LETTER_A <= text[k] <= LETTER_Z or (digits and DIGIT_0 <= text[k] <= DIGIT_9)):
            return None
    return (<const char*>text)[:length].decode("ascii")


cdef object _date(const unsigned char* text, Py_ssize_t length):
    """A real calendar day written YYYY-MM-DD, as datetime.date; else None."""
    if length != 10 or text[4] != DASH or text[7] != DASH:
        return None
    if not (_all_digits(text, 4) and _all_digits(text + 5, 2) and _all_digits(text + 8, 2)):
        return None
    try:  # the calendar's own rule, as the reference validator's date.fromisoformat
        return date_new(_digits(text, 4), _digits(text + 5, 2), _digits(text + 8, 2))
    except ValueError:
        return None
