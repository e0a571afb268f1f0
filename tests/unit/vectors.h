/* vectors.h - where the unit tests find the real hardware vector sets, and how they skip without.
 *
 * The sets are public data from other projects and are not in this repository (docs/testing.md,
 * "Real hardware vectors"). tests/CMakeLists.txt resolves them at configure time (ATTESTD_VECTORS,
 * else ../shared/vectors) and passes ATT_TEST_VECTORS: a directory holding dcap/<set>/, or "" when
 * no set was found. A test that needs them starts with VEC_REQUIRE(): without the sets it prints
 * one line "SKIP <test>: ..." (once per executable) and is skipped, the other tests still run.
 * Include after <cmocka.h>. */
#ifndef ATT_TEST_VECTORS_H
#define ATT_TEST_VECTORS_H

#include <stdbool.h>
#include <stdio.h>

static inline bool vec_present(void)
{
    return ATT_TEST_VECTORS[0] != '\0';
}

/* The one SKIP line of this executable (printed once however many of its tests skip). */
static inline void vec_skip_note(void)
{
    static bool said;
    if (!said) {
        said = true;
        printf("SKIP %s: no real vectors (set ATTESTD_VECTORS=DIR, see docs/testing.md)\n",
               ATT_TEST_NAME);
        fflush(stdout);
    }
}

/* First statement of a test that reads the sets: skips it when there are none. */
#define VEC_REQUIRE()                                                                              \
    do {                                                                                           \
        if (!vec_present()) {                                                                      \
            vec_skip_note();                                                                       \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* For main() of an executable whose every test reads the sets: skip them all, exit 0. */
#define VEC_REQUIRE_ALL()                                                                          \
    do {                                                                                           \
        if (!vec_present()) {                                                                      \
            vec_skip_note();                                                                       \
            return 0;                                                                              \
        }                                                                                          \
    } while (0)

/* The SEV-SNP sets (ATT_TEST_VECTORS_SNP: the build's link to DIR/snp, or "" when absent) skip on
 * their own, with the same one line. */
static inline bool vec_snp_present(void)
{
    return ATT_TEST_VECTORS_SNP[0] != '\0';
}

#define VEC_SNP_REQUIRE()                                                                          \
    do {                                                                                           \
        if (!vec_snp_present()) {                                                                  \
            vec_skip_note();                                                                       \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

#define VEC_SNP_REQUIRE_ALL()                                                                      \
    do {                                                                                           \
        if (!vec_snp_present()) {                                                                  \
            vec_skip_note();                                                                       \
            return 0;                                                                              \
        }                                                                                          \
    } while (0)

/* The TPM sets (ATT_TEST_VECTORS_TPM: the build's link to DIR/tpm, or "" when absent), likewise. */
static inline bool vec_tpm_present(void)
{
    return ATT_TEST_VECTORS_TPM[0] != '\0';
}

#define VEC_TPM_REQUIRE()                                                                          \
    do {                                                                                           \
        if (!vec_tpm_present()) {                                                                  \
            vec_skip_note();                                                                       \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

#endif
