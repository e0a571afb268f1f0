/* perms.c - refuse secrets that other users can read or replace (see perms.h). */
#include "perms.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "store.h"

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
                            what, path,
                            mode & S_IWOTH || mode & S_IWGRP ? "writable by" : "readable by", mode,
                            path);
    return ATT_OK;
}

/* The store's directory, named `what` in messages ("--data-dir", "--store directory"). */
static att_err_t att_perms_dir(const char *what, const char *data_dir, att_diag_t *d)
{
    struct stat st;
    if (stat(data_dir, &st) != 0) {
        if (errno == ENOENT)
            return ATT_OK; /* the store creates it 0700 */
        return att_diag_set(d, ATT_E_IO, "%s %s: %s", what, data_dir, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        return att_diag_set(d, ATT_E_ARG, "%s %s is not a directory", what, data_dir);
    unsigned mode = (unsigned)st.st_mode & 07777;
    /* A sticky world-writable directory (/tmp) still lets anyone create the database first. */
    if (mode & (S_IWGRP | S_IWOTH))
        return att_diag_set(d, ATT_E_ARG,
                            "%s %s holds the signing keys and is writable by other users "
                            "(mode %04o): anyone could replace the store; run chmod 700 %s",
                            what, data_dir, mode, data_dir);
    if (mode & (S_IROTH | S_IXOTH))
        att_log(ATT_LOG_WARN,
                "%s %s is open to other users (mode %04o); the store's "
                "files are 0600, but chmod 700 %s is safer",
                what, data_dir, mode, data_dir);
    char db[4096];
    if ((size_t)snprintf(db, sizeof db, "%s/attestd.db", data_dir) < sizeof db &&
        stat(db, &st) == 0 && ((unsigned)st.st_mode & (S_IRWXG | S_IRWXO)))
        return att_diag_set(d, ATT_E_ARG,
                            "%s holds the signing keys and other users may use it (mode %04o): "
                            "run chmod 600 %s",
                            db, (unsigned)st.st_mode & 07777, db);
    return ATT_OK;
}

att_err_t att_perms_check(const char *data_dir, const char *tls_key, att_diag_t *d)
{
    att_err_t e;
    if (tls_key != NULL && (e = att_perms_key_file("--tls-key", tls_key, d)) != ATT_OK)
        return e;
    return data_dir == NULL ? ATT_OK : att_perms_dir("--data-dir", data_dir, d);
}

att_err_t att_perms_check_store(const char *store_url, const char *data_dir, const char *tls_key,
                                att_diag_t *d)
{
    att_err_t e;
    if (tls_key != NULL && (e = att_perms_key_file("--tls-key", tls_key, d)) != ATT_OK)
        return e;
    if (store_url == NULL)
        return att_perms_check(data_dir, NULL, d);
    att_store_url_t u;
    if ((e = att_store_url_parse(store_url, &u, d)) != ATT_OK)
        return e;
    if (u.backend != ATT_STORE_URL_SQLITE)
        return ATT_OK; /* a database server guards its own data */
    bool is_data_dir = data_dir != NULL && strcmp(u.sqlite_dir, data_dir) == 0;
    return att_perms_dir(is_data_dir ? "--data-dir" : "--store directory", u.sqlite_dir, d);
}
