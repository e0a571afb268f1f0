/* eval_explain.c - the explain trace and the reasons: for each rule tried, a JSON entry (its
 * text, the conditions and the claims they matched, the action and the claims it added) and a
 * line of the text form; the "why" of a rule that did not fire ("x-ms-sgx-svn was 1, the rule
 * needs >= 2"); and the decision's reason (which rule permitted or denied, or why none did).
 * The trace's size and work are counted against the evaluation's budget.
 * Does NOT decide anything: it reads what the evaluator recorded (eval.c).
 */
#include <string.h>

#include "policy/policy_int.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static void att_rule_at(att_pol_buf_t *b, const att_pol_rule_t *r)
{
    att_pol_buf_printf(b, "rule %d at line %u", r->index, r->at.line);
}

static const char *att_src(const att_eval_t *e, att_pol_span_t at, size_t max, int *len)
{
    size_t n = at.end > at.off ? at.end - at.off : 0;
    *len = (int)(n > max ? max : n);
    return e->pol->text + at.off;
}

void att_pol_describe_claim(att_pol_buf_t *b, const att_claim_t *c)
{
    att_pol_buf_add(b, c->type, c->tn);
    att_pol_buf_add(b, " = ", 3);
    att_pv_describe(b, &c->v);
}

/* ---- conditions ------------------------------------------------------------------------- */

/* "x-ms-sgx-svn was 1, the rule needs >= 2" */
static void att_why(att_eval_t *e, const att_miss_t *m, att_pol_buf_t *b)
{
    const att_pol_cond_t *cond = &m->rule->conds[m->failed];
    int len;
    const char *src = att_src(e, cond->at, 160, &len);
    if (cond->absent) {
        att_pol_buf_printf(b, "%.*s failed: ", len, src);
        if (m->near != NULL) {
            att_pol_buf_add(b, "claim ", 6);
            att_pol_describe_claim(b, m->near);
            att_pol_buf_add(b, " is present", 11);
        }
        return;
    }
    if (m->near != NULL && m->near_test >= 0) {
        const att_pol_test_t *t = &cond->tests[m->near_test];
        const att_claim_t *c = m->near;
        int rl;
        const char *rs = att_src(e, t->rhs->at, 120, &rl);
        att_pol_buf_add(b, c->type, c->tn);
        switch (t->prop) {
        case ATT_PP_VALUE:
            att_pol_buf_add(b, " was ", 5);
            att_pv_describe(b, &c->v);
            att_pol_buf_printf(b, ", the rule needs %s%s %.*s", t->op == ATT_OP_EQ ? "" : "",
                               att_pol_op_name(t->op), rl, rs);
            break;
        case ATT_PP_ISSUER:
            att_pol_buf_printf(b, " has issuer %.*s, the rule needs issuer %s %.*s", (int)c->in,
                               c->issuer, att_pol_op_name(t->op), rl, rs);
            break;
        default:
            att_pol_buf_printf(b, " is %s, the rule needs %s %s %.*s", att_pv_type_name(&c->v),
                               att_pol_prop_name(t->prop), att_pol_op_name(t->op), rl, rs);
            break;
        }
        return;
    }
    for (int ti = 0; ti < cond->ntests; ti++) {
        const att_pol_test_t *t = &cond->tests[ti];
        if (t->prop == ATT_PP_TYPE && t->op == ATT_OP_EQ && t->rhs->kind == ATT_PX_LIT) {
            att_pol_buf_printf(b, "no claim of type \"%.*s\"", (int)t->rhs->lit.n, t->rhs->lit.s);
            return;
        }
    }
    att_pol_buf_printf(b, "no claim satisfies %.*s", len, src);
}

/* ---- trace ------------------------------------------------------------------------------ */

void att_pol_trace_rule(att_eval_t *e, const att_pol_rule_t *r, const att_bind_t *bind,
                        const att_miss_t *miss, bool fired, json_t *effects)
{
    int len;
    const char *src = att_src(e, r->at, 300, &len);
    json_t *conds = json_array();
    int upto = fired ? r->nconds : miss->failed + 1;
    for (int ci = 0; ci < upto; ci++) {
        const att_pol_cond_t *c = &r->conds[ci];
        int cl;
        const char *cs = att_src(e, c->at, 200, &cl);
        bool ok = fired || ci < miss->failed;
        json_t *claims = json_array();
        if (ok)
            for (size_t k = 0; k < bind[ci].n && k < 8; k++) {
                att_claim_t *cl2 = bind[ci].c[k];
                size_t size; /* the trace holds the claim: it costs its size again */
                if (!att_pol_claim_size(e, cl2, &size) || !att_pol_charge(&e->b, size) ||
                    !att_pol_eval_spend(e, att_pol_copy_cost(size)))
                    break;
                json_array_append_new(claims, json_pack("{s:s%,s:o*,s:s}", "type", cl2->type,
                                                        cl2->tn, "value", att_pv_to_json(&cl2->v),
                                                        "issuer", cl2->issuer));
            }
        json_array_append_new(conds, json_pack("{s:s%,s:b,s:o}", "condition", cs, (size_t)cl,
                                               "matched", ok, "claims", claims));
    }
    att_pol_buf_t why;
    att_pol_buf_init(&why, e->a);
    if (!fired)
        att_why(e, miss, &why);
    json_t *o = json_pack("{s:s,s:i,s:i,s:s%,s:b,s:o}", "section", att_pol_section_name(r->section),
                          "rule", r->index, "line", (int)r->at.line, "text", src, (size_t)len,
                          "matched", fired, "conditions", conds);
    if (o == NULL)
        return;
    if (!fired)
        json_object_set_new(o, "why", json_string(why.p ? why.p : ""));
    if (fired) {
        json_object_set_new(o, "action", json_string(att_pol_act_name(r->act.kind)));
        if (effects != NULL)
            json_object_set(o, "claims", effects);
    }
    json_array_append_new(e->trace, o);

    /* text form */
    att_pol_buf_t *t = &e->text;
    att_pol_buf_printf(t, "%s rule %d (line %u): ", att_pol_section_name(r->section), r->index,
                       r->at.line);
    if (!fired) {
        att_pol_buf_printf(t, "no match: %s\n", why.p ? why.p : "");
        return;
    }
    att_pol_buf_add(t, "matched", 7);
    bool first = true;
    for (int ci = 0; ci < r->nconds; ci++)
        for (size_t k = 0; k < bind[ci].n && k < 4; k++) {
            att_pol_buf_add(t, first ? " on " : ", ", first ? 4 : 2);
            att_pol_describe_claim(t, bind[ci].c[k]);
            first = false;
        }
    att_pol_buf_printf(t, " -> %s(", att_pol_act_name(r->act.kind));
    if (effects != NULL) {
        size_t i;
        json_t *x;
        json_array_foreach(effects, i, x)
        {
            char vs[101];
            size_t vl;
            bool cut = att_pol_json_head(json_object_get(x, "value"), vs, sizeof(vs), &vl);
            att_pol_buf_printf(t, "%s%s = %.*s%s", i ? ", " : "",
                               json_string_value(json_object_get(x, "type")),
                               (int)(vl > 100 ? 100 : vl), vs, cut || vl > 100 ? "...(cut)" : "");
        }
        if (json_array_size(effects) == 0)
            att_pol_buf_add(t, "nothing: empty value", 20);
    }
    att_pol_buf_add(t, ")\n", 2);
}

/* ---- result ----------------------------------------------------------------------------- */

char *att_pol_reason(att_eval_t *e, bool permitted)
{
    att_pol_buf_t b;
    att_pol_buf_init(&b, e->a);
    if (permitted) {
        att_pol_buf_add(&b, "permit: ", 8);
        att_rule_at(&b, e->permit_rule);
        att_pol_buf_add(&b, " (authorizationrules) fired permit()", 36);
    } else if (e->deny_rule != NULL) {
        att_pol_buf_add(&b, "deny: ", 6);
        att_rule_at(&b, e->deny_rule);
        att_pol_buf_add(&b, " (authorizationrules) fired deny()", 34);
        bool first = true;
        for (int ci = 0; ci < e->deny_rule->nconds; ci++)
            for (size_t k = 0; k < e->deny_bind[ci].n && k < 4; k++) {
                att_pol_buf_add(&b, first ? " on " : ", ", first ? 4 : 2);
                att_pol_describe_claim(&b, e->deny_bind[ci].c[k]);
                first = false;
            }
    } else if (e->nmiss == 0) {
        att_pol_buf_add(&b, "deny: authorizationrules has no permit() rule", 45);
    } else {
        att_pol_buf_add(&b, "deny: no permit() rule fired", 28);
        for (size_t i = 0; i < e->nmiss && i < 4; i++) {
            att_pol_buf_add(&b, "; ", 2);
            att_rule_at(&b, e->misses[i].rule);
            att_pol_buf_add(&b, ": ", 2);
            att_why(e, &e->misses[i], &b);
        }
        if (e->nmiss > 4)
            att_pol_buf_printf(&b, "; and %zu more", e->nmiss - 4);
    }
    return b.p ? strdup(b.p) : NULL;
}
