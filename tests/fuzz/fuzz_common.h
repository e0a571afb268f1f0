/* fuzz_common.h - what every libFuzzer target here shares: the entry points' prototypes, the
 * real vector sets (fuzz_vectors()) and FUZZ_CHECK, which names the target and the failed
 * invariant before aborting (libFuzzer records the abort as a crash). */
#ifndef ATT_FUZZ_COMMON_H
#define ATT_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef ATT_FUZZ_VECTORS
#define ATT_FUZZ_VECTORS "" /* tests/fuzz/CMakeLists.txt passes the build's view of the sets */
#endif
#ifndef ATT_FUZZ_NAME
#define ATT_FUZZ_NAME "fuzz"
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The real vector sets are not in the repository (docs/testing.md, "Real hardware vectors"): a
 * directory holding dcap/<set>/, from ATT_FUZZ_VECTORS in the environment, else the view the build
 * made at configure time (ATTESTD_VECTORS or ../shared/vectors). A target that needs them and finds
 * none prints one SKIP line and exits 0. */
static inline const char *fuzz_vectors(void)
{
    const char *v = getenv("ATT_FUZZ_VECTORS");
    if (v == NULL || *v == 0)
        v = ATT_FUZZ_VECTORS;
    if (*v == 0) {
        printf("SKIP fuzz/" ATT_FUZZ_NAME ": no real vectors (set ATTESTD_VECTORS=DIR, see "
               "docs/testing.md)\n");
        exit(0);
    }
    return v;
}

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, ATT_FUZZ_NAME ": invariant failed: %s: ", #cond);                      \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
