/* ear.c - the EAR claims set of a verdict and the Accept header that asks for it (ear.h; the
 * mapping is documented in docs/ear.md, which must follow this file). */
#include "token/ear.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "attest/err.h"

static const char *const att_ear_names[ATT_EAR_NCLAIMS] = {
    "instance-identity", "configuration",  "executables",    "file-system",
    "hardware",          "runtime-opaque", "storage-opaque", "sourced-data"};

/* AR4SI values attestd issues (draft-ietf-rats-ar4si, "Trustworthiness Claims"). */
enum {
    ATT_AR_NO_CLAIM = 0,
    ATT_AR_RECOGNIZED_INSTANCE = 2, /* instance-identity */
    ATT_AR_UNSAFE_CONFIG = 32,      /* configuration: known vulnerabilities */
    ATT_AR_APPROVED_RT = 2,         /* executables: approved */
    ATT_AR_CONTRAINDICATED_RT = 96, /* executables: contraindicated */
    ATT_AR_GENUINE_HW = 2,          /* hardware */
    ATT_AR_UNSAFE_HW = 32,          /* hardware: genuine, known vulnerabilities */
    ATT_AR_CONTRAINDICATED_HW = 96, /* hardware: recognized, contraindicated */
    ATT_AR_ENCRYPTED_RT = 2,        /* runtime-opaque: encrypted, in a TEE */
    ATT_AR_VISIBLE_RT = 96          /* runtime-opaque: unacceptably visible */
};

const char *att_ear_claim_name(att_ear_claim_t c)
{
    return (unsigned)c < ATT_EAR_NCLAIMS ? att_ear_names[c] : "?";
}

att_ear_tier_t att_ear_tier(int v)
{
    if (v >= 96 && v <= 127)
        return ATT_EAR_CONTRAINDICATED;
    if (v >= 32 && v <= 95)
        return ATT_EAR_WARNING;
    if (v >= 2 && v <= 31)
        return ATT_EAR_AFFIRMING;
    return ATT_EAR_NONE;
}

const char *att_ear_tier_name(att_ear_tier_t t)
{
    switch (t) {
    case ATT_EAR_AFFIRMING:
        return "affirming";
    case ATT_EAR_WARNING:
        return "warning";
    case ATT_EAR_CONTRAINDICATED:
        return "contraindicated";
    default:
        return "none";
    }
}

static const char *att_str(const json_t *c, const char *k)
{
    return json_string_value(json_object_get(c, k));
}

static bool att_true(const json_t *c, const char *k)
{
    return json_is_true(json_object_get(c, k));
}

static bool att_streq(const char *a, const char *b)
{
    return a != NULL && strcmp(a, b) == 0;
}

/* Intel's converged TCB status (SGX and TDX) as a hardware claim: UpToDate is genuine, Revoked
 * contraindicated, every other status (OutOfDate, SWHardeningNeeded, ConfigurationNeeded, their
 * combinations, and any status this version does not know) a warning. */
static int att_ear_tcb_hw(const char *tcb)
{
    if (strcmp(tcb, "UpToDate") == 0)
        return ATT_AR_GENUINE_HW;
    if (strcmp(tcb, "Revoked") == 0)
        return ATT_AR_CONTRAINDICATED_HW;
    return ATT_AR_UNSAFE_HW;
}

void att_ear_vector(const att_ear_in_t *in, int vec[ATT_EAR_NCLAIMS])
{
    for (size_t i = 0; i < ATT_EAR_NCLAIMS; i++)
        vec[i] = ATT_AR_NO_CLAIM;
    const json_t *c = in->claims;
    const char *type = att_str(c, "x-ms-attestation-type");
    bool tpm = att_streq(type, "tpm");
    /* a TEE whose memory is encrypted (SGX and Open Enclave report "sgx") */
    bool tee = att_streq(type, "sgx") || att_streq(type, "tdxvm") || att_streq(type, "sevsnpvm");
    bool debug = att_true(c, "x-ms-sgx-is-debuggable") || att_true(c, "tdx_td_attributes_debug") ||
                 att_streq(att_str(c, "dbgstat"), "enabled") ||
                 att_true(c, "x-ms-sevsnpvm-is-debuggable");
    const char *tcb = att_str(c, "x-ms-sgx-tcb-status");
    if (tcb == NULL)
        tcb = att_str(c, "attester_tcb_status");

    /* hardware: the evidence verified to the vendor's root (or, TPM, an AK attestd trusts);
     * Intel's TCB status grades it; a chain that ends at a root trusted only by configuration
     * (x-attestd-simulated) is never affirmed. */
    int hw = tcb != NULL ? att_ear_tcb_hw(tcb) : ATT_AR_GENUINE_HW;
    if (att_true(c, "x-attestd-simulated") && hw < ATT_AR_UNSAFE_HW)
        hw = ATT_AR_UNSAFE_HW;
    vec[ATT_EAR_HARDWARE] = hw;

    /* configuration: Intel says the platform's configuration needs changing; a TPM whose
     * verified event log shows Secure Boot off. */
    if ((tcb != NULL && strstr(tcb, "Configuration") != NULL) ||
        json_is_false(json_object_get(c, "x-attestd-tpm-secure-boot")))
        vec[ATT_EAR_CONFIGURATION] = ATT_AR_UNSAFE_CONFIG;

    /* executables: a debuggable enclave or VM runs code its host can change; else what runs was
     * approved when the operator's policy (not a default stand-in) permitted it. */
    if (debug)
        vec[ATT_EAR_EXECUTABLES] = ATT_AR_CONTRAINDICATED_RT;
    else if (in->policy_custom && !in->denied)
        vec[ATT_EAR_EXECUTABLES] = ATT_AR_APPROVED_RT;

    /* runtime-opaque: a TEE's memory is encrypted, unless it is debuggable. */
    if (tee)
        vec[ATT_EAR_RUNTIME_OPAQUE] = debug ? ATT_AR_VISIBLE_RT : ATT_AR_ENCRYPTED_RT;

    /* instance-identity: the request's runtime data (the instance's key) is bound into the TEE's
     * signed report; a TPM quote is signed by an AK attestd trusts. */
    if ((tee && in->data_bound) || (tpm && att_str(c, "x-attestd-tpm-ak-trust") != NULL))
        vec[ATT_EAR_INSTANCE_IDENTITY] = ATT_AR_RECOGNIZED_INSTANCE;
}

att_ear_tier_t att_ear_status(const int vec[ATT_EAR_NCLAIMS], bool denied)
{
    if (denied)
        return ATT_EAR_CONTRAINDICATED;
    att_ear_tier_t worst = ATT_EAR_NONE;
    for (size_t i = 0; i < ATT_EAR_NCLAIMS; i++) {
        att_ear_tier_t t = att_ear_tier(vec[i]);
        if (t > worst)
            worst = t;
    }
    return worst;
}

att_err_t att_ear_claims(const att_ear_in_t *in, json_t **out, att_diag_t *d)
{
    *out = NULL;
    if (in == NULL || in->submod == NULL || !json_is_object(in->claims) || in->build == NULL)
        return att_diag_set(d, ATT_E_ARG,
                            "EAR: a submod name, the MAA claims and a build are "
                            "required");
    int vec[ATT_EAR_NCLAIMS];
    att_ear_vector(in, vec);
    json_t *tv = json_object(), *app = json_object(), *ear = json_object(),
           *maa = json_deep_copy(in->claims);
    bool ok = tv && app && ear && maa;
    for (size_t i = 0; ok && i < ATT_EAR_NCLAIMS; i++)
        if (vec[i] != ATT_AR_NO_CLAIM)
            ok = json_object_set_new(tv, att_ear_names[i], json_integer(vec[i])) == 0;
    ok =
        ok &&
        json_object_set_new(app, "ear.status",
                            json_string(att_ear_tier_name(att_ear_status(vec, in->denied)))) == 0 &&
        json_object_set(app, "ear.trustworthiness-vector", tv) == 0 &&
        (in->policy_id == NULL ||
         json_object_set_new(app, "ear.appraisal-policy-id", json_string(in->policy_id)) == 0) &&
        (!in->denied ||
         json_object_set_new(app, ATT_EAR_POLICY_DENIED,
                             json_string(in->deny_reason ? in->deny_reason : "")) == 0) &&
        json_object_set(app, ATT_EAR_MAA_CLAIMS, maa) == 0;
    ok = ok && json_object_set_new(ear, "eat_profile", json_string(ATT_EAR_PROFILE)) == 0 &&
         json_object_set_new(
             ear, "ear.verifier-id",
             json_pack("{s:s,s:s}", "developer", ATT_EAR_DEVELOPER, "build", in->build)) == 0 &&
         json_object_set_new(ear, "submods", json_pack("{s:O}", in->submod, app)) == 0;
    /* EAT's JSON nonce is a text string of 10 to 74 characters (RFC 9711); a shorter or longer
     * MAA nonce stays only in the MAA claims. */
    const json_t *nonce = json_object_get(in->claims, "nonce");
    size_t nl = json_is_string(nonce) ? json_string_length(nonce) : 0;
    if (ok && nl >= 10 && nl <= 74)
        ok = json_object_set(ear, "eat_nonce", (json_t *)nonce) == 0;
    json_decref(tv);
    json_decref(app);
    json_decref(maa);
    if (!ok) {
        json_decref(ear);
        return att_diag_set(d, ATT_E_NOMEM,
                            "out of memory (or a claim that is not UTF-8) while "
                            "building the EAR");
    }
    *out = ear;
    return ATT_OK;
}

/* ---- the relying party's check ---- */

static att_ear_tier_t att_ear_tier_parse(const char *s, bool *ok)
{
    static const att_ear_tier_t tiers[] = {ATT_EAR_NONE, ATT_EAR_AFFIRMING, ATT_EAR_WARNING,
                                           ATT_EAR_CONTRAINDICATED};
    for (size_t i = 0; s != NULL && i < sizeof tiers / sizeof *tiers; i++)
        if (strcmp(s, att_ear_tier_name(tiers[i])) == 0) {
            *ok = true;
            return tiers[i];
        }
    *ok = false;
    return ATT_EAR_NONE;
}

att_err_t att_ear_check(const json_t *claims, att_ear_tier_t worst, const char *nonce,
                        att_diag_t *d)
{
    const char *p = att_str(claims, "eat_profile");
    if (p == NULL || strcmp(p, ATT_EAR_PROFILE) != 0)
        return att_diag_set(d, ATT_E_TOKEN_CLAIM,
                            "not an EAR: eat_profile is %s%s%s, not \"" ATT_EAR_PROFILE "\"",
                            p ? "\"" : "", p ? p : "missing", p ? "\"" : "");
    const json_t *sub = json_object_get(claims, "submods");
    if (!json_is_object(sub) || json_object_size(sub) == 0)
        return att_diag_set(d, ATT_E_TOKEN_CLAIM, "the EAR has no appraisal (submods)");
    const char *name;
    json_t *a;
    json_object_foreach((json_t *)sub, name, a)
    {
        bool ok;
        const char *st = att_str(a, "ear.status");
        att_ear_tier_t t = att_ear_tier_parse(st, &ok);
        if (!ok)
            return att_diag_set(d, ATT_E_TOKEN_CLAIM, "submod %s: ear.status %s is not a tier",
                                name, st ? st : "missing");
        if (t == ATT_EAR_NONE || t > worst)
            return att_diag_set(d, ATT_E_TOKEN_CLAIM,
                                "submod %s: ear.status is %s, this check accepts %s%s", name, st,
                                att_ear_tier_name(ATT_EAR_AFFIRMING),
                                worst >= ATT_EAR_WARNING ? " or warning" : " only");
    }
    if (nonce != NULL) {
        const char *got = att_str(claims, "eat_nonce");
        if (got == NULL && json_object_size(sub) == 1) {
            void *it = json_object_iter((json_t *)sub);
            got = att_str(json_object_get(json_object_iter_value(it), ATT_EAR_MAA_CLAIMS), "nonce");
        }
        if (got == NULL || strcmp(got, nonce) != 0)
            return att_diag_set(d, ATT_E_TOKEN_CLAIM, "eat_nonce is %s, expected the nonce sent",
                                got ? "another value" : "missing");
    }
    return ATT_OK;
}

/* ---- Accept (RFC 9110 12.5.1) ---- */

static bool att_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* One media range [p, e): its type/subtype, q (1000 = 1) and its eat_profile parameter (quoted
 * or not; NULL, 0 when absent). False when it is malformed. */
typedef struct {
    const char *type;
    size_t type_len;
    int q;
    const char *profile;
    size_t profile_len;
} att_range_t;

static bool att_parse_q(const char *v, size_t n, int *q)
{
    /* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) */
    if (n == 0 || (v[0] != '0' && v[0] != '1') || (n > 1 && v[1] != '.') || n > 5)
        return false;
    int r = (v[0] - '0') * 1000, scale = 100;
    for (size_t i = 2; i < n; i++, scale /= 10) {
        if (v[i] < '0' || v[i] > '9')
            return false;
        r += (v[i] - '0') * scale;
    }
    if (r > 1000)
        return false;
    *q = r;
    return true;
}

static bool att_parse_range(const char *p, const char *e, att_range_t *r)
{
    memset(r, 0, sizeof(*r));
    r->q = 1000;
    while (p < e && att_ows(*p))
        p++;
    const char *t = p;
    while (p < e && *p != ';' && !att_ows(*p))
        p++;
    r->type = t;
    r->type_len = (size_t)(p - t);
    if (r->type_len == 0 || memchr(t, '/', r->type_len) == NULL)
        return false;
    while (p < e) {
        while (p < e && att_ows(*p))
            p++;
        if (p == e)
            break;
        if (*p != ';')
            return false;
        p++;
        while (p < e && att_ows(*p))
            p++;
        const char *name = p;
        while (p < e && *p != '=' && *p != ';' && !att_ows(*p))
            p++;
        size_t nlen = (size_t)(p - name);
        if (p == e || *p != '=')
            return false;
        p++;
        const char *val = p;
        size_t vlen;
        if (p < e && *p == '"') {
            val = ++p;
            while (p < e && *p != '"')
                p += (*p == '\\' && p + 1 < e) ? 2 : 1;
            if (p >= e)
                return false;
            vlen = (size_t)(p - val);
            p++;
        } else {
            while (p < e && *p != ';' && !att_ows(*p))
                p++;
            vlen = (size_t)(p - val);
        }
        if (nlen == 1 && (name[0] == 'q' || name[0] == 'Q')) {
            if (!att_parse_q(val, vlen, &r->q))
                return false;
        } else if (nlen == 11 && strncasecmp(name, "eat_profile", 11) == 0) {
            r->profile = val;
            r->profile_len = vlen;
        }
    }
    return true;
}

static bool att_type_is(const att_range_t *r, const char *t)
{
    return r->type_len == strlen(t) && strncasecmp(r->type, t, r->type_len) == 0;
}

bool att_ear_accepted(const char *accept)
{
    if (accept == NULL)
        return false;
    int ear_q = -1, json_q = -1;
    const char *p = accept;
    for (;;) {
        /* the end of this element: the next comma outside a quoted string */
        const char *e = p;
        bool quoted = false;
        while (*e != '\0' && (quoted || *e != ',')) {
            if (*e == '\\' && quoted && e[1] != '\0')
                e++;
            else if (*e == '"')
                quoted = !quoted;
            e++;
        }
        if (quoted)
            return false;
        const char *s = p;
        while (s < e && att_ows(*s))
            s++;
        if (s < e) { /* empty elements are allowed (RFC 9110 5.6.1) */
            att_range_t r;
            if (!att_parse_range(s, e, &r))
                return false;
            if (att_type_is(&r, ATT_EAR_MEDIA) &&
                (r.profile == NULL || (r.profile_len == strlen(ATT_EAR_PROFILE) &&
                                       memcmp(r.profile, ATT_EAR_PROFILE, r.profile_len) == 0)) &&
                r.q > ear_q)
                ear_q = r.q;
            else if (att_type_is(&r, "application/json") && r.q > json_q)
                json_q = r.q;
        }
        if (*e == '\0')
            break;
        p = e + 1;
    }
    return ear_q > 0 && ear_q >= json_q;
}
