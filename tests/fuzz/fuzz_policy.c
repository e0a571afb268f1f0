/* fuzz_policy.c - libFuzzer target for the policy parser (and, when a policy compiles, its
 * evaluation against a fixed claim set, which exercises the JmesPath subset too).
 * Seeds: tests/fuzz/corpus/policy (the example policies of maa-api.md and MAA's docs, and the
 * cost attacks of issue 10: budget_*.pol).
 *
 * Oracle of the work budget (docs/policy.md, "Limits"): evaluation runs with a small budget
 * (20,000 steps, 1 MiB) and either fails (ATT_E_POLICY_BUDGET with a message naming the budget,
 * or another policy error) or succeeds within both limits, with issued claims and properties
 * whose serialised size is within the bytes it reports. A value sharing nodes that escaped the
 * counting would break the last check, or time out. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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
    att_policy_eval_opts_t opts = {
        .explain = (size & 1) != 0, .max_steps = 20000, .max_bytes = 1u << 20};
    att_policy_result_t *res = NULL;
    e = att_policy_eval(pol, claims, &opts, &res, &d);
    if (e == ATT_OK) {
        if (att_policy_result_reason(res) == NULL || att_policy_result_claims(res) == NULL)
            __builtin_trap();
        uint64_t steps;
        size_t bytes;
        att_policy_result_cost(res, &steps, &bytes);
        FUZZ_CHECK(steps <= opts.max_steps && bytes <= opts.max_bytes, "%llu steps, %zu bytes",
                   (unsigned long long)steps, bytes);
        char *c = json_dumps(att_policy_result_claims(res), JSON_COMPACT);
        char *p = json_dumps(att_policy_result_properties(res), JSON_COMPACT);
        FUZZ_CHECK(c != NULL && p != NULL && strlen(c) + strlen(p) <= bytes + 4,
                   "output of %zu bytes, %zu counted", c && p ? strlen(c) + strlen(p) : 0, bytes);
        free(c);
        free(p);
        att_policy_result_free(res);
    } else if (e == ATT_E_POLICY_BUDGET) {
        FUZZ_CHECK(res == NULL && strstr(d.msg, "budget of") != NULL, "%s", d.msg);
    }
    att_policy_free(pol);
    return 0;
}
