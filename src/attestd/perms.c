/* perms.c - refuse secrets that other users can read or replace (see perms.h). */
#include "perms.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "http.h"

/* A file holding a private key: regular, not writable by group or others, not readable by
 * others. Group-readable stays allowed (Debian's ssl-cert group: 0640 root:ssl-cert). */
static att_err_t att_perms_key_file(const char *what, const char *path, att_diag_t *d)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return att_diag_set(d, ATT_E_IO, "%s %s: %s", what, path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return att_diag_set(d, ATT_E_ARG, "%s %s is not a regular file", what, path);
    unsigned mode = (unsigned)st.st_mode & 07777;
    if (mode & (S_IROTH | S_IWOTH | S_IWGRP))
        return att_diag_set(d, ATT_E_ARG,
                            "%s %s holds a private key and is %s other users (mode %04o): run "
                            "chmod 600 %s (or 640 with a group only attestd's user is in)",
                            what, path, mode & S_IWOTH || mode & S_IWGRP ? "writable by" :
                            "readable by", mode, path);
    return ATT_OK;
}

att_err_t att_perms_check(const char *data_dir, const char *tls_key, att_diag_t *d)
{
    att_err_t e;
    if (tls_key != NULL && (e = att_perms_key_file("--tls-key", tls_key, d)) != ATT_OK)
        return e;
    if (data_dir == NULL)
        return ATT_OK;
    struct stat st;
    if (stat(data_dir, &st) != 0) {
        if (errno == ENOENT)
            return ATT_OK; /* the store creates it 0700 */
        return att_diag_set(d, ATT_E_IO, "--data-dir %s: %s", data_dir, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        return att_diag_set(d, ATT_E_ARG, "--data-dir %s is not a directory", data_dir);
    unsigned mode = (unsigned)st.st_mode & 07777;
    /* A sticky world-writable directory (/tmp) still lets anyone create the database first. */
    if (mode & (S_IWGRP | S_IWOTH))
        return att_diag_set(d, ATT_E_ARG,
                            "--data-dir %s holds the signing keys and is writable by other users "
                            "(mode %04o): anyone could replace the store; run chmod 700 %s",
                            data_dir, mode, data_dir);
    if (mode & (S_IROTH | S_IXOTH))
        att_log(ATT_LOG_WARN, "--data-dir %s is open to other users (mode %04o); the store's "
                "files are 0600, but chmod 700 %s is safer", data_dir, mode, data_dir);
    char db[4096];
    if ((size_t)snprintf(db, sizeof db, "%s/attestd.db", data_dir) < sizeof db &&
        stat(db, &st) == 0 && ((unsigned)st.st_mode & (S_IRWXG | S_IRWXO)))
        return att_diag_set(d, ATT_E_ARG,
                            "%s holds the signing keys and other users may use it (mode %04o): "
                            "run chmod 600 %s", db, (unsigned)st.st_mode & 07777, db);
    return ATT_OK;
}
