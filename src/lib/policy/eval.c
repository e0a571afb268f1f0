/* eval.c - MAA policy evaluation: configuration, authorization, then issuance rules.
 *
 * Semantics (docs/policy.md has the long form):
 * - A condition selects the incoming claims whose properties pass every test; it holds when at
 *   least one claim is selected ("!" inverts: it holds when none is). An identifier binds the
 *   selected claims; c.value is the set of their values, and a test holds for a claim when it
 *   holds for at least one value of the set on its right.
 * - Rules run in textual order. add() appends to the incoming set (visible to later rules),
 *   issue() also to the token, issueproperty() also to the properties. With a set of values an
 *   action adds one claim per value; an empty set (JsonToClaimValue(null)) adds nothing.
 * - Authorization permits iff some permit() fired and no deny() did; a deny() ends the section.
 *   Issuance runs only when permitted.
 * - Ordering operators need integers on both sides: anything else is ATT_E_POLICY_TYPE, so a
 *   deny rule cannot silently miss because a claim had an unexpected type.
 *
 * This file is the rule evaluator: it runs each section's rules in order, performs their actions
 * (permit, deny, add, issue, issueproperty, with valueType coercion) and gives the result
 * (att_policy_eval and its accessors), matching each rule's conditions against the claim set
 * here too (the hot loop: it stays in one file so that it compiles as before). Expressions and
 * the policy functions are evaluated in eval_expr.c, the incoming and issued claims converted in
 * eval_claims.c, and the explain trace and the reasons built in eval_explain.c.
 * Does NOT check the policy's syntax, names, argument counts or literal types (the parser did,
 * parser.c), nor the evidence behind the claims (verified before the policy runs).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy/policy_int.h"

#define ATT_EVAL_STACK      16384
#define ATT_EVAL_MAX_CLAIMS 100000

struct att_policy_result {
    uint64_t steps; /* work and size the evaluation took (att_policy_result_cost) */
    size_t bytes;
    bool permitted;
    char *reason;
    json_t *claims;
    json_t *props;
    json_t *trace;
    char *trace_text;
};

static const char att_iss_policy[] = "AttestationPolicy";

/* ---- helpers ---------------------------------------------------------------------------- */

/* The budget ran out (or the caller cancelled): say which budget, its limit and where. */
att_err_t att_pol_budget_err(att_eval_t *e)
{
    const att_pol_budget_t *b = &e->b;
    char where[160], q[128] = "";
    if (e->rule != NULL)
        snprintf(where, sizeof(where), " in %s rule %d at line %u",
                 att_pol_section_name(e->rule->section), e->rule->index, e->rule->at.line);
    else
        snprintf(where, sizeof(where), " while reading the incoming claims");
    if (e->query != NULL)
        snprintf(q, sizeof(q), ", JmesPath query \"%.*s%s\"",
                 (int)(e->query_n > 80 ? 80 : e->query_n), e->query, e->query_n > 80 ? "..." : "");
    switch (b->err) {
    case ATT_E_CANCELLED:
        return att_diag_set(e->diag, ATT_E_CANCELLED,
                            "policy evaluation cancelled%s%s (after %" PRIu64 " steps)", where, q,
                            b->steps);
    case ATT_E_LIMIT:
        return att_diag_set(e->diag, ATT_E_LIMIT,
                            "policy evaluation stopped: a JSON value nested deeper than %d "
                            "levels%s%s",
                            ATT_POL_MAX_NEST, where, q);
    default:
        if (strcmp(b->what ? b->what : "", "steps") == 0)
            return att_diag_set(e->diag, ATT_E_POLICY_BUDGET,
                                "policy evaluation exceeded its work budget of %" PRIu64
                                " steps%s%s",
                                b->max_steps, where, q);
        return att_diag_set(e->diag, ATT_E_POLICY_BUDGET,
                            "policy evaluation exceeded its size budget of %zu bytes of values "
                            "built%s%s",
                            b->max_bytes, where, q);
    }
}

att_err_t att_pol_oom(att_eval_t *e)
{
    if (e->b.err != ATT_OK)
        return att_pol_budget_err(e); /* the arena refused because the budget ran out */
    return att_diag_set(e->diag, ATT_E_NOMEM, "policy evaluation ran out of memory");
}

/* Serialised size of claim c (type and value), measured once against the budget. */
bool att_pol_claim_size(att_eval_t *e, att_claim_t *c, size_t *size)
{
    if (c->size == 0) {
        size_t vs = 0;
        if (c->v.kind == ATT_PV_JSON && c->v.json != NULL) {
            att_pol_jsize_t z;
            if (!att_pol_json_size(&e->b, c->v.json,
                                   e->b.max_bytes > e->b.bytes ? e->b.max_bytes - e->b.bytes : 0,
                                   &z))
                return false;
            vs = z.text;
        } else if (c->v.kind == ATT_PV_STR || c->v.kind == ATT_PV_JSON) {
            if (!att_pol_eval_spend(e, att_pol_scan_cost(c->v.n)))
                return false;
            vs = att_pol_str_text(c->v.s, c->v.n);
        } else {
            vs = 24; /* an integer or a Boolean */
        }
        if (!att_pol_eval_spend(e, att_pol_scan_cost(c->tn)))
            return false;
        c->size = att_pol_str_text(c->type, c->tn) + 2 + vs;
    }
    *size = c->size;
    return true;
}

att_err_t att_pol_claimset_add(att_eval_t *e, att_claimset_t *s, att_claim_t *c)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 32;
        if (cap > ATT_EVAL_MAX_CLAIMS)
            return att_diag_set(e->diag, ATT_E_LIMIT, "more than %d claims during evaluation",
                                ATT_EVAL_MAX_CLAIMS);
        att_claim_t **nc = att_pol_alloc(e->a, cap * sizeof(*nc));
        if (nc == NULL)
            return att_pol_oom(e);
        if (s->n)
            memcpy(nc, s->c, s->n * sizeof(*nc));
        s->c = nc;
        s->cap = cap;
    }
    s->c[s->n++] = c;
    return ATT_OK;
}

/* ---- helpers ---------------------------------------------------------------------------- */

/* Value of property p of claim c. */
void att_pol_claim_prop(att_eval_t *e, att_claim_t *c, att_pol_prop_t p, att_pv_t *out)
{
    memset(out, 0, sizeof(*out));
    out->kind = ATT_PV_STR;
    switch (p) {
    case ATT_PP_TYPE:
        out->s = c->type;
        out->n = c->tn;
        break;
    case ATT_PP_ISSUER:
        out->s = c->issuer;
        out->n = c->in;
        break;
    case ATT_PP_VALUETYPE:
        out->s = att_pv_type_name(&c->v);
        out->n = strlen(out->s);
        break;
    case ATT_PP_VALUE:
        if (c->v.kind == ATT_PV_JSON)
            att_pv_text(e->a, &c->v, NULL);
        *out = c->v;
        break;
    }
}

/* ---- conditions ------------------------------------------------------------------------- */

static att_err_t att_test_claim(att_eval_t *e, const att_pol_rule_t *r, const att_pol_test_t *t,
                                const att_pv_set_t *rhs, att_claim_t *c, bool *pass)
{
    att_pv_t lhs;
    /* fast path: type == "literal" */
    if (t->prop == ATT_PP_TYPE && t->op == ATT_OP_EQ && rhs->n == 1 &&
        rhs->v[0].kind == ATT_PV_STR) {
        if (!att_pol_eval_spend(e, att_pol_scan_cost(c->tn < rhs->v[0].n ? c->tn : rhs->v[0].n)))
            return att_pol_budget_err(e);
        *pass = c->tn == rhs->v[0].n && memcmp(c->type, rhs->v[0].s, c->tn) == 0;
        return ATT_OK;
    }
    att_pol_claim_prop(e, c, t->prop, &lhs);
    if (e->b.err != ATT_OK)
        return att_pol_budget_err(e);
    *pass = false;
    for (size_t i = 0; i < rhs->n && !*pass; i++) {
        att_pv_t *rv = &rhs->v[i];
        if (rv->kind == ATT_PV_JSON)
            att_pv_text(e->a, rv, NULL);
        if (!att_pol_eval_spend(e, att_pol_cmp_cost(&lhs, rv)))
            return att_pol_budget_err(e);
        int res = att_pv_compare(&lhs, t->op, rv);
        if (res < 0) {
            att_pol_buf_t b;
            att_pol_buf_init(&b, e->a);
            att_pol_describe_claim(&b, c);
            return att_diag_set(e->diag, ATT_E_POLICY_TYPE,
                                "%s rule %d at line %u, column %u: operator %s needs integers but "
                                "claim %s is %s%s and the rule compares with %s %s",
                                att_pol_section_name(r->section), r->index, t->at.line, t->at.col,
                                att_pol_op_name(t->op), b.p ? b.p : "",
                                lhs.kind == ATT_PV_INT ? "an " : "a ", att_pv_type_name(&lhs),
                                rv->kind == ATT_PV_INT ? "an" : "a", att_pv_type_name(rv));
        }
        *pass = res == 1;
    }
    return ATT_OK;
}

/* Evaluate a rule's conditions; *fired tells whether they all hold, bind gets the bindings,
 * miss (if not NULL) the reason when they do not. */
static att_err_t att_match(att_eval_t *e, const att_pol_rule_t *r, att_bind_t *bind,
                           att_miss_t *miss, bool *fired)
{
    size_t nclaims = e->in.n;
    miss->rule = r;
    miss->failed = -1;
    miss->near = NULL;
    miss->near_test = -1;
    *fired = true;
    for (int ci = 0; ci < r->nconds; ci++) {
        const att_pol_cond_t *cond = &r->conds[ci];
        att_pv_set_t rhs[16];
        for (int ti = 0; ti < cond->ntests; ti++) {
            att_err_t err = att_pol_eval_expr(e, r, cond->tests[ti].rhs, bind, &rhs[ti]);
            if (err != ATT_OK)
                return err;
        }
        att_bind_t *b = &bind[ci];
        b->n = 0;
        b->c = NULL;
        size_t cap = 0;
        const att_claim_t *near = NULL;
        int near_test = -1;
        for (size_t k = 0; k < nclaims; k++) {
            att_claim_t *c = e->in.c[k];
            bool pass = true, typed = true;
            if (!att_pol_eval_spend(e, 1))
                return att_pol_budget_err(e);
            int ti;
            for (ti = 0; ti < cond->ntests && pass; ti++) {
                att_err_t err = att_test_claim(e, r, &cond->tests[ti], &rhs[ti], c, &pass);
                if (err != ATT_OK)
                    return err;
                if (!pass && cond->tests[ti].prop == ATT_PP_TYPE)
                    typed = false;
            }
            if (!pass) {
                if (typed && near == NULL) {
                    near = c;
                    near_test = ti - 1;
                }
                continue;
            }
            if (cond->absent) {
                near = c; /* the claim that should have been absent */
                b->n = 1;
                break;
            }
            if (b->n == cap) {
                size_t ncap = cap ? cap * 2 : 4;
                att_claim_t **nc = att_pol_alloc(e->a, ncap * sizeof(*nc));
                if (nc == NULL)
                    return att_pol_oom(e);
                if (b->n)
                    memcpy(nc, b->c, b->n * sizeof(*nc));
                b->c = nc;
                cap = ncap;
            }
            b->c[b->n++] = c;
        }
        bool holds = cond->absent ? b->n == 0 : b->n > 0;
        if (cond->absent)
            b->n = 0; /* an absence condition binds nothing */
        if (!holds) {
            *fired = false;
            miss->failed = ci;
            miss->near = near;
            miss->near_test = cond->absent ? -1 : near_test;
            return ATT_OK;
        }
    }
    return ATT_OK;
}

/* ---- actions ---------------------------------------------------------------------------- */

att_err_t att_pol_coerce(att_eval_t *e, const att_pol_rule_t *r, att_pol_vt_t vt, att_pv_t *v)
{
    if (vt == ATT_VT_NONE)
        return ATT_OK;
    size_t n;
    const char *s =
        (v->kind == ATT_PV_STR || v->kind == ATT_PV_JSON) ? att_pv_text(e->a, v, &n) : NULL;
    if (e->b.err != ATT_OK)
        return att_pol_budget_err(e);
    switch (vt) {
    case ATT_VT_STRING:
        if (v->kind == ATT_PV_INT) {
            v->s = att_pol_printf(e->a, "%" PRId64, v->i);
        } else if (v->kind == ATT_PV_BOOL) {
            v->s = v->b ? "true" : "false";
        } else {
            v->kind = ATT_PV_STR;
            return ATT_OK;
        }
        if (v->s == NULL)
            return att_pol_oom(e);
        v->n = strlen(v->s);
        v->kind = ATT_PV_STR;
        return ATT_OK;
    case ATT_VT_INTEGER:
        if (v->kind == ATT_PV_INT)
            return ATT_OK;
        if (s != NULL && n > 0 && n < 24) {
            char tmp[24], *end;
            memcpy(tmp, s, n);
            tmp[n] = '\0';
            errno = 0;
            long long x = strtoll(tmp, &end, 0);
            if (*end == '\0' && errno == 0) {
                v->kind = ATT_PV_INT;
                v->i = x;
                return ATT_OK;
            }
        }
        break;
    case ATT_VT_BOOLEAN:
        if (v->kind == ATT_PV_BOOL)
            return ATT_OK;
        if (s != NULL && (n == 4 || n == 5) &&
            (!strncasecmp(s, "true", n) || !strncasecmp(s, "false", n))) {
            v->kind = ATT_PV_BOOL;
            v->b = n == 4;
            return ATT_OK;
        }
        break;
    default:
        return ATT_OK;
    }
    att_pol_buf_t b;
    att_pol_buf_init(&b, e->a);
    att_pv_describe(&b, v);
    return att_diag_set(e->diag, ATT_E_POLICY_TYPE,
                        "%s rule %d at line %u: value %s cannot be given valueType %s",
                        att_pol_section_name(r->section), r->index, r->act.at.line, b.p ? b.p : "",
                        vt == ATT_VT_INTEGER ? "Integer" : "Boolean");
}

static att_err_t att_emit(att_eval_t *e, const att_pol_rule_t *r, const char *type, size_t tn,
                          const att_pv_t *v, json_t *effects)
{
    att_claim_t *c = att_pol_alloc(e->a, sizeof(*c));
    if (c == NULL)
        return att_pol_oom(e);
    c->type = type;
    c->tn = tn;
    c->issuer = att_iss_policy;
    c->in = sizeof(att_iss_policy) - 1;
    c->v = *v;
    c->size = 0;
    att_err_t err = att_pol_coerce(e, r, r->act.valuetype, &c->v);
    /* a claim added or issued costs its serialised size: it may be compared, traced, put in
     * the token; a JSON value sharing nodes is measured here, where it stops being cheap */
    size_t size;
    if (err == ATT_OK && (!att_pol_claim_size(e, c, &size) || !att_pol_charge(&e->b, size) ||
                          !att_pol_eval_spend(e, att_pol_copy_cost(size))))
        return att_pol_budget_err(e);
    if (err == ATT_OK)
        err = att_pol_claimset_add(e, &e->in, c);
    if (err == ATT_OK && r->act.kind == ATT_ACT_ISSUE)
        err = att_pol_claimset_add(e, &e->out, c);
    if (err == ATT_OK && r->act.kind == ATT_ACT_ISSUEPROPERTY)
        err = att_pol_claimset_add(e, &e->props, c);
    if (err == ATT_OK && effects != NULL) {
        if (!att_pol_charge(&e->b, size) || !att_pol_eval_spend(e, att_pol_copy_cost(size)))
            return att_pol_budget_err(e); /* the trace holds the value again */
        json_t *val = att_pv_to_json(&c->v);
        json_array_append_new(effects,
                              json_pack("{s:s%,s:o*}", "type", c->type, c->tn, "value", val));
    }
    return err;
}

static att_err_t att_act(att_eval_t *e, const att_pol_rule_t *r, const att_bind_t *bind,
                         json_t *effects)
{
    const att_pol_action_t *a = &r->act;
    switch (a->kind) {
    case ATT_ACT_PERMIT:
        if (e->permit_rule == NULL)
            e->permit_rule = r;
        return ATT_OK;
    case ATT_ACT_DENY:
        e->deny_rule = r;
        return ATT_OK;
    default:
        break;
    }
    if (a->claim_ref >= 0) {
        const att_bind_t *b = &bind[a->claim_ref];
        for (size_t i = 0; i < b->n; i++) {
            att_err_t err = att_emit(e, r, b->c[i]->type, b->c[i]->tn, &b->c[i]->v, effects);
            if (err != ATT_OK)
                return err;
        }
        return ATT_OK;
    }
    att_pv_set_t types, values;
    att_err_t err = att_pol_eval_expr(e, r, a->type, bind, &types);
    if (err == ATT_OK)
        err = att_pol_eval_expr(e, r, a->value, bind, &values);
    for (size_t ti = 0; err == ATT_OK && ti < types.n; ti++) {
        att_pv_t *t = &types.v[ti];
        if (t->kind != ATT_PV_STR && t->kind != ATT_PV_JSON)
            return att_diag_set(e->diag, ATT_E_POLICY_TYPE,
                                "%s rule %d at line %u: the claim type must be a String, got %s",
                                att_pol_section_name(r->section), r->index, a->at.line,
                                att_pv_type_name(t));
        size_t tn;
        const char *ts = att_pv_text(e->a, t, &tn);
        if (ts == NULL)
            return att_pol_oom(e);
        for (size_t vi = 0; err == ATT_OK && vi < values.n; vi++)
            err = att_emit(e, r, ts, tn, &values.v[vi], effects);
    }
    return err;
}

/* ---- sections --------------------------------------------------------------------------- */

static att_err_t att_run_section(att_eval_t *e, att_pol_section_t s)
{
    const att_pol_sec_t *sec = &e->pol->sec[s];
    for (int i = 0; i < sec->nrules; i++) {
        const att_pol_rule_t *r = &sec->rules[i];
        e->rule = r;
        if (!att_pol_eval_spend(e, 1))
            return att_pol_budget_err(e);
        att_bind_t bindbuf[8];
        att_bind_t *bind = bindbuf;
        if (r->nconds > 8) {
            bind = att_pol_alloc(e->a, sizeof(*bind) * (size_t)r->nconds);
            if (bind == NULL)
                return att_pol_oom(e);
        }
        att_miss_t miss;
        bool fired;
        att_err_t err = att_match(e, r, bind, &miss, &fired);
        if (err != ATT_OK)
            return err;
        json_t *effects = NULL;
        if (fired) {
            if (e->explain && r->act.kind != ATT_ACT_PERMIT && r->act.kind != ATT_ACT_DENY)
                effects = json_array();
            err = att_act(e, r, bind, effects);
            if (err != ATT_OK) {
                json_decref(effects);
                return err;
            }
            if (r->act.kind == ATT_ACT_DENY) {
                size_t nb = (size_t)r->nconds;
                e->deny_bind = att_pol_alloc(e->a, sizeof(*bind) * (nb ? nb : 1));
                if (e->deny_bind == NULL)
                    return att_pol_oom(e);
                memcpy(e->deny_bind, bind, sizeof(*bind) * nb);
            }
        } else if (r->act.kind == ATT_ACT_PERMIT) {
            if (e->nmiss == e->capmiss) {
                size_t cap = e->capmiss ? e->capmiss * 2 : 8;
                att_miss_t *nm = att_pol_alloc(e->a, cap * sizeof(*nm));
                if (nm == NULL)
                    return att_pol_oom(e);
                if (e->nmiss)
                    memcpy(nm, e->misses, e->nmiss * sizeof(*nm));
                e->misses = nm;
                e->capmiss = cap;
            }
            e->misses[e->nmiss++] = miss;
        }
        if (e->explain && att_pol_eval_spend(e, ATT_POL_TRACE_STEPS + (uint64_t)r->nconds * 10))
            att_pol_trace_rule(e, r, bind, &miss, fired, effects);
        json_decref(effects);
        if (e->b.err != ATT_OK)
            return att_pol_budget_err(e);
        if (e->deny_rule != NULL)
            break; /* a deny ends authorization */
    }
    return e->a->failed ? att_pol_oom(e) : ATT_OK;
}

/* ---- result ----------------------------------------------------------------------------- */

ATT_API att_err_t att_policy_eval(const att_policy_t *pol, const json_t *claims,
                                  const att_policy_eval_opts_t *opts, att_policy_result_t **out,
                                  att_diag_t *diag)
{
    if (out != NULL)
        *out = NULL;
    if (pol == NULL || claims == NULL || out == NULL)
        return att_diag_set(diag, ATT_E_ARG, "att_policy_eval: NULL argument");
    _Alignas(max_align_t) char stack[ATT_EVAL_STACK];
    att_eval_t e;
    memset(&e, 0, sizeof(e));
    att_pol_budget_init(&e.b, opts);
    /* no limit of its own: every allocation is charged to the size budget */
    att_pol_arena_t arena;
    att_pol_arena_init(&arena, stack, sizeof(stack), 0);
    arena.budget = &e.b;
    e.pol = pol;
    e.a = &arena;
    e.diag = diag;
    e.explain = opts != NULL && opts->explain;
    att_policy_result_t *res = calloc(1, sizeof(*res));
    att_err_t err = res ? ATT_OK : att_pol_oom(&e);
    /* one step for the evaluation itself: a cancelled caller (a stopping service) gets
     * ATT_E_CANCELLED before any work, however small the policy */
    if (err == ATT_OK && !att_pol_eval_spend(&e, 1))
        err = att_pol_budget_err(&e);
    if (err == ATT_OK && e.explain) {
        e.trace = json_array();
        att_pol_buf_init(&e.text, e.a);
        att_pol_buf_add(&e.text, "", 0);
    }
    if (err == ATT_OK)
        err = att_pol_load_claims(&e, claims);
    if (err == ATT_OK)
        err = att_run_section(&e, ATT_SEC_CONFIG);
    if (err == ATT_OK)
        err = att_run_section(&e, ATT_SEC_AUTH);
    bool permitted = e.permit_rule != NULL && e.deny_rule == NULL;
    if (err == ATT_OK && permitted)
        err = att_run_section(&e, ATT_SEC_ISSUE);
    if (err == ATT_OK) {
        res->permitted = permitted;
        res->reason = att_pol_reason(&e, permitted);
        res->claims = permitted ? att_pol_claims_json(&e.out) : json_object();
        res->props = att_pol_claims_json(&e.props);
        if (e.explain) {
            if (!permitted && pol->sec[ATT_SEC_ISSUE].nrules > 0)
                att_pol_buf_printf(&e.text, "issuancerules: skipped, authorization failed\n");
            att_pol_buf_printf(&e.text, "decision: %s\n", res->reason ? res->reason : "?");
            res->trace = e.trace;
            e.trace = NULL;
            res->trace_text = e.text.p ? strdup(e.text.p) : NULL;
            if (res->trace == NULL || res->trace_text == NULL)
                err = att_pol_oom(&e);
        }
        if (err == ATT_OK && (res->reason == NULL || res->claims == NULL || res->props == NULL ||
                              arena.failed || e.b.err != ATT_OK))
            err = att_pol_oom(&e);
        res->steps = e.b.steps;
        res->bytes = e.b.bytes;
    }
    json_decref(e.trace);
    att_pol_arena_free(&arena);
    if (err != ATT_OK) {
        att_policy_result_free(res);
        return err;
    }
    att_diag_clear(diag);
    *out = res;
    return ATT_OK;
}

ATT_API void att_policy_result_free(att_policy_result_t *res)
{
    if (res == NULL)
        return;
    free(res->reason);
    json_decref(res->claims);
    json_decref(res->props);
    json_decref(res->trace);
    free(res->trace_text);
    free(res);
}

ATT_API bool att_policy_permitted(const att_policy_result_t *res)
{
    return res != NULL && res->permitted;
}

ATT_API const char *att_policy_result_reason(const att_policy_result_t *res)
{
    return res ? res->reason : NULL;
}

ATT_API const json_t *att_policy_result_claims(const att_policy_result_t *res)
{
    return res ? res->claims : NULL;
}

ATT_API const json_t *att_policy_result_properties(const att_policy_result_t *res)
{
    return res ? res->props : NULL;
}

ATT_API const json_t *att_policy_result_trace(const att_policy_result_t *res)
{
    return res ? res->trace : NULL;
}

ATT_API const char *att_policy_result_trace_text(const att_policy_result_t *res)
{
    return res ? res->trace_text : NULL;
}

ATT_API void att_policy_result_cost(const att_policy_result_t *res, uint64_t *steps, size_t *bytes)
{
    if (steps != NULL)
        *steps = res ? res->steps : 0;
    if (bytes != NULL)
        *bytes = res ? res->bytes : 0;
}
