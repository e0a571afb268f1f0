/* err.c - names and messages of att_err_t, and att_diag_t helpers. */
#include "attest/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    att_err_t code;
    const char *name;
    const char *msg;
} att_err_table[] = {
#define ATT_ERR_ROW(name, num, msg) {name, #name, msg},
    ATT_ERRORS(ATT_ERR_ROW)
#undef ATT_ERR_ROW
};

#define ATT_ERR_N (sizeof(att_err_table) / sizeof(att_err_table[0]))

ATT_API const char *att_err_name(att_err_t e)
{
    for (size_t i = 0; i < ATT_ERR_N; i++)
        if (att_err_table[i].code == e)
            return att_err_table[i].name;
    return "ATT_E_UNKNOWN";
}

ATT_API const char *att_strerror(att_err_t e)
{
    for (size_t i = 0; i < ATT_ERR_N; i++)
        if (att_err_table[i].code == e)
            return att_err_table[i].msg;
    return "unknown error";
}

ATT_API size_t att_err_count(void)
{
    return ATT_ERR_N;
}

ATT_API att_err_t att_err_at(size_t i)
{
    return i < ATT_ERR_N ? att_err_table[i].code : ATT_OK;
}

ATT_API att_err_t att_diag_set(att_diag_t *diag, att_err_t code, const char *fmt, ...)
{
    if (diag == NULL)
        return code;
    diag->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(diag->msg, sizeof(diag->msg), fmt, ap);
    va_end(ap);
    return code;
}

ATT_API void att_diag_clear(att_diag_t *diag)
{
    if (diag == NULL)
        return;
    diag->code = ATT_OK;
    diag->msg[0] = '\0';
}
