/* audit.h - the audit trail (--audit-log FILE): one JSON object per line for every attempt to
 * change what attestd trusts or how it judges - policy set and reset, policy signer certificates
 * added and removed, signing keys rotated - whether it succeeded or was refused, and by whom.
 *
 *   att_audit_t *a; att_audit_open("/var/log/attestd/audit.jsonl", &a, &d);
 *   json_t *ev = att_audit_event("policy.set");  // "time" and "event" filled in
 *   json_object_set_new(ev, "policy_type", json_string("SgxEnclave")); ...
 *   att_audit_write(a, ev);                       // appended and fsync'd; ev is consumed
 *
 * Each record is written with one write(2) on a file opened O_APPEND (0600, created if missing),
 * so records of several processes (attestd and `attestd keys rotate`) never interleave, and is
 * fsync'd before att_audit_write returns: the answer to the request that made the change goes
 * out after its record is on disk. A record that cannot be written is reported on the error log
 * (with the record) and counted; the change itself has already been made by then (the trail
 * records, it does not gate). Not recorded: attestation requests and reads (the request log and
 * metrics have those). Not checked: that the file is not altered afterwards (ship it elsewhere,
 * or make it append-only, if that matters).
 */
#ifndef ATTESTD_AUDIT_H
#define ATTESTD_AUDIT_H

#include <stdbool.h>

#include <jansson.h>

#include "attest/types.h"

typedef struct att_audit att_audit_t;

/* Open (create 0600) `path` for appending. path NULL: *out = NULL, ATT_OK (no trail). ATT_E_IO
 * naming the file when it cannot be opened. */
att_err_t att_audit_open(const char *path, att_audit_t **out, att_diag_t *d);
void att_audit_close(att_audit_t *a);
/* A new record {"time": now (RFC 3339, milliseconds, UTC), "event": event}. */
json_t *att_audit_event(const char *event);
/* Append ev as one line and fsync; consumes ev. a NULL: ev is dropped. Returns false (after
 * logging the record at error level) when the write or the fsync failed. */
bool att_audit_write(att_audit_t *a, json_t *ev);
/* Records that could not be written since start. */
unsigned long att_audit_failures(att_audit_t *a);

#endif
