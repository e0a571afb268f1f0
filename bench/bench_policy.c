/* bench_policy.c - policy evaluation throughput on one core: MAA's default SGX policy and a
 * 20-rule policy (1 configuration, 9 authorization, 10 issuance rules) on SGX claims.
 * Prints one line per case:  NAME evals_per_s=N us_per_eval=X
 * Goal (issue 3): under 10 us for the default policy. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "attest/policy.h"

static const char policy_20[] =
    "version=1.1;\n"
    "configurationrules {\n"
    "  => issueproperty(type=\"x-ms-sgx-tcbidentifier\", value=\"azuredefault\");\n"
    "};\n"
    "authorizationrules {\n"
    "  [type==\"x-ms-sgx-is-debuggable\", value==true] => deny();\n"
    "  [type==\"x-ms-sgx-svn\", value < 1] => deny();\n"
    "  [type==\"x-ms-sgx-product-id\", value != 4639] => deny();\n"
    "  [type==\"x-ms-sgx-mrsigner\", value==\"00\"] => deny();\n"
    "  c:[type==\"x-ms-sgx-svn\"] => add(type=\"svn-seen\", value=c.value);\n"
    "  [type==\"x-ms-sgx-mrsigner\", value==\"mrsigner1\"] && [type==\"x-ms-sgx-svn\", value>=5] "
    "=> permit();\n"
    "  [type==\"x-ms-sgx-mrsigner\", value==\"mrsigner2\"] && [type==\"x-ms-sgx-svn\", value>=5] "
    "=> permit();\n"
    "  [type==\"x-ms-sgx-is-debuggable\", value==false] && [type==\"x-ms-sgx-mrsigner\", "
    "value==\"8568a9e3a6b5b33bb5a2d4ffaf1e8ac3a9a0c1d4e5f60718293a4b5c6d7e8f90\"] && "
    "[type==\"x-ms-sgx-product-id\", value==4639] && [type==\"x-ms-sgx-svn\", value>=1] => "
    "permit();\n"
    "  [type==\"x-ms-attestation-type\", value==\"sevsnpvm\"] => permit();\n"
    "};\n"
    "issuancerules {\n"
    "  c:[type==\"x-ms-sgx-is-debuggable\"] => issue(type=\"is-debuggable\", value=c.value);\n"
    "  c:[type==\"x-ms-sgx-mrsigner\"] => issue(type=\"sgx-mrsigner\", value=c.value);\n"
    "  c:[type==\"x-ms-sgx-mrenclave\"] => issue(type=\"sgx-mrenclave\", value=c.value);\n"
    "  c:[type==\"x-ms-sgx-product-id\"] => issue(type=\"product-id\", value=c.value);\n"
    "  c:[type==\"x-ms-sgx-svn\"] => issue(type=\"svn\", value=c.value);\n"
    "  c:[type==\"x-ms-attestation-type\"] => issue(type=\"tee\", value=c.value);\n"
    "  c:[type==\"svn-seen\", issuer==\"AttestationPolicy\"] => issue(type=\"svn-checked\", "
    "value=true);\n"
    "  c:[type==\"x-ms-sgx-report-data\"] => issue(type=\"report-data\", value=c.value);\n"
    "  [type==\"x-ms-sgx-config-id\"] => issue(type=\"kss\", value=true);\n"
    "  => issue(type=\"policy-name\", value=\"bench-20\");\n"
    "};\n";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int bench(const char *name, const char *text, const json_t *claims, int expect_permit)
{
    att_policy_t *pol;
    att_diag_t d;
    if (att_policy_compile(text, strlen(text), &pol, NULL, &d) != ATT_OK) {
        fprintf(stderr, "%s: %s\n", name, d.msg);
        return 1;
    }
    long n = 0;
    double t0 = now_s(), t1;
    for (;;) {
        for (int i = 0; i < 1000; i++) {
            att_policy_result_t *res;
            if (att_policy_eval(pol, claims, NULL, &res, &d) != ATT_OK ||
                att_policy_permitted(res) != expect_permit) {
                fprintf(stderr, "%s: unexpected result: %s\n", name, d.msg);
                return 1;
            }
            att_policy_result_free(res);
        }
        n += 1000;
        t1 = now_s();
        if (t1 - t0 >= 1.0)
            break;
    }
    double per = (t1 - t0) / (double)n;
    printf("%s evals_per_s=%.0f us_per_eval=%.2f\n", name, 1.0 / per, per * 1e6);
    att_policy_free(pol);
    return 0;
}

int main(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    (void)sched_setaffinity(0, sizeof(set), &set); /* best effort: one core */
    json_t *claims = json_loads(
        "{\"x-ms-sgx-is-debuggable\": false,"
        " \"x-ms-sgx-mrsigner\": "
        "\"8568a9e3a6b5b33bb5a2d4ffaf1e8ac3a9a0c1d4e5f60718293a4b5c6d7e8f90\","
        " \"x-ms-sgx-mrenclave\": "
        "\"d971ad0f1a3e2b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a22a73\","
        " \"x-ms-sgx-product-id\": 4639, \"x-ms-sgx-svn\": 1, \"x-ms-attestation-type\": \"sgx\","
        " \"x-ms-sgx-report-data\": "
        "\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\","
        " \"x-ms-sgx-ehd\": \"AAECAw\", \"x-ms-ver\": \"1.0\", \"iat\": 1751328000,"
        " \"x-ms-sgx-collateral\": {\"qeidhash\": \"aa\", \"tcbinfohash\": \"bb\"}}",
        0, NULL);
    if (claims == NULL)
        return 1;
    int rc = bench("policy_default_sgx", att_policy_default("SgxEnclave"), claims, 1);
    rc |= bench("policy_20_rules", policy_20, claims, 1);
    json_decref(claims);
    return rc;
}
