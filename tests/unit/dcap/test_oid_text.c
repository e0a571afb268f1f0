/* test_oid_text.c - the PCK extension's OID text (att_dcap_oid_text) is OBJ_obj2txt's for every
 * OID it may meet: each entry of the SGX extension, arcs at the one-byte limit and beyond it,
 * deeper and shorter OIDs under the SGX arc, and OIDs elsewhere. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/objects.h>

#include "dcap/dcap_internal.h"

static void same(const char *dotted)
{
    ASN1_OBJECT *o = OBJ_txt2obj(dotted, 1);
    assert_non_null(o);
    char want[128], got[128];
    OBJ_obj2txt(want, sizeof want, o, 1);
    att_dcap_oid_text(o, got, sizeof got);
    if (strcmp(want, got) != 0)
        fail_msg("%s: OBJ_obj2txt says %s, att_dcap_oid_text %s", dotted, want, got);
    ASN1_OBJECT_free(o);
}

static void test_oid_text(void **state)
{
    char oid[96];
    for (int i = 1; i <= 7; i++) {
        snprintf(oid, sizeof oid, "1.2.840.113741.1.13.1.%d", i);
        same(oid);
    }
    for (int i = 1; i <= 18; i++) {
        snprintf(oid, sizeof oid, "1.2.840.113741.1.13.1.2.%d", i);
        same(oid);
    }
    const char *edge[] = {
        "1.2.840.113741.1.13.1.0",       "1.2.840.113741.1.13.1.127",
        "1.2.840.113741.1.13.1.128",     "1.2.840.113741.1.13.1.2.300",
        "1.2.840.113741.1.13.1.7.1.2.3", "1.2.840.113741.1.13.1.1.1.1.1.1.1.1.1.1",
        "1.2.840.113741.1.13.1",         "1.2.840.113741.1.13.2.1",
        "1.2.840.113741.1.14.1.1",       "2.5.29.19",
        "1.3.6.1.4.1.3704.1.3.1",        "2.999.1"};
    for (size_t i = 0; i < sizeof edge / sizeof *edge; i++)
        same(edge[i]);
    /* a buffer too small for the fast path falls back to OpenSSL's (truncating) conversion */
    ASN1_OBJECT *o = OBJ_txt2obj("1.2.840.113741.1.13.1.2.17", 1);
    char small[16], want[16];
    OBJ_obj2txt(want, sizeof want, o, 1);
    att_dcap_oid_text(o, small, sizeof small);
    assert_string_equal(small, want);
    ASN1_OBJECT_free(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_oid_text)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
