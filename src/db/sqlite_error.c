/*
 * sqlite_error.c -- SQLite errors as flor errors: the flor code and message
 * for an SQLite result code, and the message for a damaged database (which
 * names the file and says to run fsck).  Moved here from base/error.c and
 * db.c so that base depends on nothing of flor's and no two files of db
 * call each other.
 */
#include "db/db.h"

int flor__err_sqlite(sqlite3 *db, int rc, const char *what)
{
    int prim = rc & 0xff;
    int code = FLOR_EIO;
    if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED)
        code = FLOR_EBUSY;
    else if (prim == SQLITE_CORRUPT || prim == SQLITE_NOTADB)
        return flor__db_damaged(db, rc, what);
    else if (prim == SQLITE_NOMEM)
        code = FLOR_ENOMEM;
    else if (prim == SQLITE_ERROR)
        code = FLOR_EINVAL;
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    return flor__err(code, "%s: %s", what, msg);
}

/* A damaged database is reported, never recreated or written: the
 * message names the file, says what is wrong and how to go on. */
int flor__db_damaged(sqlite3 *db, int rc, const char *what)
{
    const char *path = db ? sqlite3_db_filename(db, "main") : NULL;
    const char *detail = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    if ((rc & 0xff) == SQLITE_NOTADB)
        return flor__err(FLOR_ECORRUPT, "%s%s'%s' is not a SQLite database (bad header): %s",
                         what ? what : "", what ? ": " : "", path ? path : "?", FLOR__FSCK_HINT);
    return flor__err(FLOR_ECORRUPT, "%s%s'%s' is damaged: %s: %s", what ? what : "",
                     what ? ": " : "", path ? path : "?", detail, FLOR__FSCK_HINT);
}
