/* attest/policy_err.h - error codes of the policy engine (7xx), included by attest/err.h.
 * X(name, number, generic message); see attest/err.h. */
#ifndef ATTEST_POLICY_ERR_H
#define ATTEST_POLICY_ERR_H

#define ATT_POLICY_ERRORS(X)                                                                       \
    X(ATT_E_POLICY_SYNTAX, 701, "policy text has a syntax error")                                  \
    X(ATT_E_POLICY_DENIED, 702, "the policy did not authorize the evidence")                       \
    X(ATT_E_POLICY_EVAL, 703, "policy evaluation failed")                                          \
    X(ATT_E_POLICY_TYPE, 704, "a policy comparison or function got a value of the wrong type")     \
    X(ATT_E_POLICY_JMESPATH, 705, "a JmesPath query is invalid or uses an unsupported feature")    \
    X(ATT_E_POLICY_CLAIMS, 706, "the incoming claims given to the policy are malformed")           \
    X(ATT_E_POLICY_BUDGET, 707, "policy evaluation exceeded its work budget (steps or size)")

#endif
