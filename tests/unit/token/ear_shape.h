/* ear_shape.h - an EAR claims set checked against draft-ietf-rats-ear-04's CDDL (JSON
 * serialisation), written from the draft independently of src/lib/token/ear.c:
 *
 *   EAR = { eat_profile: "tag:github.com,2023:veraison/ear", iat: int,
 *           ear.verifier-id: { developer: text, build: text }, ? ear.raw-evidence: b64url,
 *           submods: { + text => EAR-appraisal }, ? eat_nonce: text .size (10..74) (RFC 9711),
 *           * extension }
 *   EAR-appraisal = { ear.status: "none" / "affirming" / "warning" / "contraindicated",
 *                     ? ear.trustworthiness-vector: non-empty { ? <8 AR4SI names>: -128..127 },
 *                     ? ear.appraisal-policy-id: text, * extension }
 *
 * plus AR4SI's rule that a status is never more favourable than the tier of a claim of its
 * vector (none -1..1, affirming 2..31, warning 32..95, contraindicated 96..127).
 * ear_shape_error returns NULL when the set conforms, else what does not (static buffer).
 */
#ifndef ATT_TEST_EAR_SHAPE_H
#define ATT_TEST_EAR_SHAPE_H

#include <stdio.h>
#include <string.h>

#include <jansson.h>

static const char *const ear_shape_tv_names[] = {
    "instance-identity", "configuration",  "executables",    "file-system",
    "hardware",          "runtime-opaque", "storage-opaque", "sourced-data"};

/* Tier rank: none 0, affirming 1, warning 2, contraindicated 3; -1 for a name not a tier. */
static int ear_shape_status_rank(const char *s)
{
    static const char *const n[] = {"none", "affirming", "warning", "contraindicated"};
    for (int i = 0; s != NULL && i < 4; i++)
        if (strcmp(s, n[i]) == 0)
            return i;
    return -1;
}

static int ear_shape_value_rank(json_int_t v)
{
    return v >= 96 ? 3 : v >= 32 ? 2 : v >= 2 ? 1 : 0;
}

static const char *ear_shape_appraisal(const char *name, json_t *a, char *why, size_t n)
{
    if (!json_is_object(a))
        return snprintf(why, n, "submods.%s is not an object", name), why;
    const char *st = json_string_value(json_object_get(a, "ear.status"));
    int rank = ear_shape_status_rank(st);
    if (rank < 0)
        return snprintf(why, n, "submods.%s: ear.status missing or not a tier name", name), why;
    json_t *tv = json_object_get(a, "ear.trustworthiness-vector");
    if (tv != NULL) {
        if (!json_is_object(tv) || json_object_size(tv) == 0)
            return snprintf(why, n, "submods.%s: the vector is not a non-empty object", name), why;
        const char *k;
        json_t *v;
        json_object_foreach(tv, k, v)
        {
            bool known = false;
            for (size_t i = 0; i < 8; i++)
                known = known || strcmp(k, ear_shape_tv_names[i]) == 0;
            if (!known)
                return snprintf(why, n, "submods.%s: '%s' is not an AR4SI claim", name, k), why;
            if (!json_is_integer(v) || json_integer_value(v) < -128 || json_integer_value(v) > 127)
                return snprintf(why, n, "submods.%s: %s is not an integer in -128..127", name, k),
                       why;
            if (ear_shape_value_rank(json_integer_value(v)) > rank)
                return snprintf(why, n, "submods.%s: ear.status %s is more favourable than %s %d",
                                name, st, k, (int)json_integer_value(v)),
                       why;
        }
    }
    json_t *pid = json_object_get(a, "ear.appraisal-policy-id");
    if (pid != NULL && !json_is_string(pid))
        return snprintf(why, n, "submods.%s: ear.appraisal-policy-id is not text", name), why;
    return NULL;
}

static const char *ear_shape_error(json_t *ear)
{
    static char why[256];
    if (!json_is_object(ear))
        return "not an object";
    const char *p = json_string_value(json_object_get(ear, "eat_profile"));
    if (p == NULL || strcmp(p, "tag:github.com,2023:veraison/ear") != 0)
        return "eat_profile missing or not the EAR profile";
    if (!json_is_integer(json_object_get(ear, "iat")))
        return "iat missing or not an integer";
    json_t *vid = json_object_get(ear, "ear.verifier-id");
    if (!json_is_object(vid) || !json_is_string(json_object_get(vid, "developer")) ||
        !json_is_string(json_object_get(vid, "build")))
        return "ear.verifier-id is not {developer: text, build: text}";
    json_t *raw = json_object_get(ear, "ear.raw-evidence");
    if (raw != NULL &&
        (!json_is_string(raw) ||
         strspn(json_string_value(raw), "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq"
                                        "rstuvwxyz0123456789-_") != json_string_length(raw)))
        return "ear.raw-evidence is not base64url";
    json_t *nonce = json_object_get(ear, "eat_nonce");
    if (nonce != NULL && (!json_is_string(nonce) || json_string_length(nonce) < 10 ||
                          json_string_length(nonce) > 74))
        return "eat_nonce is not text of 10 to 74 characters";
    json_t *sub = json_object_get(ear, "submods");
    if (!json_is_object(sub) || json_object_size(sub) == 0)
        return "submods missing or empty";
    const char *k;
    json_t *a;
    json_object_foreach(sub, k, a)
    {
        const char *e = ear_shape_appraisal(k, a, why, sizeof why);
        if (e != NULL)
            return e;
    }
    return NULL;
}

#endif
