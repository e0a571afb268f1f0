/* time.c - RFC 3339 parsing and formatting without the C library's locale or TZ state. */
#include "attest/types.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), after Howard Hinnant's algorithm. */
static int64_t att_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void att_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int att_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int att_days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

ATT_API att_err_t att_time_parse(const char *s, att_time_t *out)
{
    if (s == NULL || out == NULL)
        return ATT_E_ARG;
    const char *p = s;
    int y, mo, d, h, mi, sec;
    if (att_digits(&p, 4, &y) || *p++ != '-' || att_digits(&p, 2, &mo) || *p++ != '-' ||
        att_digits(&p, 2, &d))
        return ATT_E_ARG;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return ATT_E_ARG;
    p++;
    if (att_digits(&p, 2, &h) || *p++ != ':' || att_digits(&p, 2, &mi) || *p++ != ':' ||
        att_digits(&p, 2, &sec))
        return ATT_E_ARG;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return ATT_E_ARG;
        while (isdigit((unsigned char)*p))
            p++;
    }
    int offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (att_digits(&p, 2, &oh) || *p++ != ':' || att_digits(&p, 2, &om) || oh > 23 || om > 59)
            return ATT_E_ARG;
        offset = sign * (oh * 3600 + om * 60);
    } else {
        return ATT_E_ARG;
    }
    if (*p != '\0')
        return ATT_E_ARG;
    if (mo < 1 || mo > 12 || d < 1 || d > att_days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
        return ATT_E_ARG;
    if (sec == 60)
        sec = 59; /* leap second: clamp */
    *out = att_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec -
           offset;
    return ATT_OK;
}

ATT_API char *att_time_format(att_time_t t, char *buf)
{
    int64_t days = t / 86400, rem = t % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int64_t y;
    unsigned m, d;
    att_civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999) {
        snprintf(buf, ATT_TIME_STRLEN, "%s",
                 y < 0 ? "0000-01-01T00:00:00Z" : "9999-12-31T23:59:59Z");
        return buf;
    }
    snprintf(buf, ATT_TIME_STRLEN, "%04u-%02u-%02uT%02u:%02u:%02uZ", (unsigned)y % 10000u, m % 13u,
             d % 32u, (unsigned)(rem / 3600) % 24u, (unsigned)(rem / 60 % 60),
             (unsigned)(rem % 60));
    return buf;
}
