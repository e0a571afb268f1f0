/* fuzz_ear_accept.c - libFuzzer target: the Accept header that asks attestd for an EAR
 * (att_ear_accepted, src/lib/token/ear.c; docs/ear.md), a parser of a client's header.
 *
 * The input, NUL-terminated (a header value has no NUL), is the header value. Invariants (abort =
 * crash for libFuzzer):
 *   - the answer is the same on a second call (no state, nothing read past the NUL);
 *   - an EAR is only chosen when the value names application/eat+jwt (case-insensitive);
 *   - appending a wildcard list element (", " then star, slash, star) never changes the answer,
 *     since wildcards never select an EAR and do not outrank it.
 * Seed corpus: tests/fuzz/corpus/ear_accept/ (the shapes of tests/unit/token/test_ear.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz_common.h"
#include "token/ear.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static bool names_ear(const char *s)
{
    for (; *s != '\0'; s++)
        if (strncasecmp(s, ATT_EAR_MEDIA, strlen(ATT_EAR_MEDIA)) == 0)
            return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192) /* far beyond the HTTP server's header limit */
        return 0;
    char *s = malloc(size + 8);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    size_t len = strlen(s);
    bool a = att_ear_accepted(s);
    FUZZ_CHECK(att_ear_accepted(s) == a, "a second call answered differently");
    FUZZ_CHECK(!a || names_ear(s), "an EAR for a value that does not name %s", ATT_EAR_MEDIA);
    /* a wildcard element after a complete value (not inside an open quoted string) */
    bool open = false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\' && open && i + 1 < len)
            i++;
        else if (s[i] == '"')
            open = !open;
    }
    if (!open) {
        memcpy(s + len, ", */*", 6);
        FUZZ_CHECK(att_ear_accepted(s) == a, "appending a wildcard element changed the answer");
    }
    free(s);
    return 0;
}
