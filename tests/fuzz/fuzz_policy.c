/* fuzz_policy.c - libFuzzer target for the policy parser (and, when a policy compiles, its
 * evaluation against a fixed claim set, which exercises the JmesPath subset too).
 * Seeds: tests/fuzz/corpus/policy (the example policies of maa-api.md and MAA's docs). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "attest/policy.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    att_policy_t *pol = NULL;
    att_policy_pos_t pos;
    att_diag_t d;
    att_err_t e = att_policy_compile((const char *)data, size, &pol, &pos, &d);
    if (e != ATT_OK) {
        /* every syntax error carries a position inside (or just past) the text */
        if (e == ATT_E_POLICY_SYNTAX && (pos.line == 0 || pos.column == 0))
            __builtin_trap();
        return 0;
    }
    static json_t *claims;
    if (claims == NULL)
        claims = json_loads("{\"x-ms-sgx-is-debuggable\": false, \"x-ms-sgx-svn\": 2, "
                            "\"x-ms-sgx-mrsigner\": \"aa\", \"x-ms-attestation-type\": \"sgx\", "
                            "\"events\": \"{\\\"Events\\\": [{\\\"a\\\": 1}, [2, 3]]}\", "
                            "\"x-ms-runtime\": {\"keys\": [{\"kid\": \"k\"}]}}",
                            0, NULL);
    att_policy_eval_opts_t opts = {.explain = (size & 1) != 0};
    att_policy_result_t *res = NULL;
    if (att_policy_eval(pol, claims, &opts, &res, &d) == ATT_OK) {
        if (att_policy_result_reason(res) == NULL || att_policy_result_claims(res) == NULL)
            __builtin_trap();
        att_policy_result_free(res);
    }
    att_policy_free(pol);
    return 0;
}
