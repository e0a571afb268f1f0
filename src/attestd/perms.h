/* perms.h - attestd refuses to start on secrets that other users can read or replace, as sshd
 * does with its host keys.
 *
 *   if (att_perms_check_store(cfg.store_url, cfg.data_dir, cfg.tls_key, &d) != ATT_OK)
 *       ... "--tls-key key.pem holds a private key and is readable by other users (mode 0644):
 *            run chmod 600 key.pem ..." -> exit 1
 *
 * Checked: --tls-key is a regular file not readable by others and not writable by group or
 * others (0640 with a dedicated group stays allowed); an existing --data-dir (signing keys,
 * policies) is a directory not writable by group or others, and its attestd.db, if there, has
 * no group or other bits. A --data-dir readable by others only gets a warning (the store's
 * files are 0600). Not checked: the owner (attestd may run as root or a service user), parent
 * directories, ACLs, or files that are replaced after the start.
 */
#ifndef ATTESTD_PERMS_H
#define ATTESTD_PERMS_H

#include "attest/types.h"

att_err_t att_perms_check(const char *data_dir, const char *tls_key, att_diag_t *d);
/* The same for the store a --store URL names: a sqlite: URL's directory is checked as
 * --data-dir is (and named so in messages when it is data_dir); another backend's is not. */
att_err_t att_perms_check_store(const char *store_url, const char *data_dir, const char *tls_key,
                                att_diag_t *d);

#endif
