/* fuzz_common.h - what every libFuzzer target here shares: the entry points' prototypes, the
 * vectors directory (tests/fuzz/CMakeLists.txt passes the real one) and FUZZ_CHECK, which names
 * the target and the failed invariant before aborting (libFuzzer records the abort as a crash). */
#ifndef ATT_FUZZ_COMMON_H
#define ATT_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef ATT_FUZZ_VECTORS
#define ATT_FUZZ_VECTORS "tests/vectors"
#endif
#ifndef ATT_FUZZ_NAME
#define ATT_FUZZ_NAME "fuzz"
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
