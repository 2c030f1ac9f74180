/*
 * fuzz_db -- opening a damaged or hostile flor.db: flor_project_open (which
 * checks the schema and marks dead runs killed), then flor_project_runs,
 * flor_project_dataframe (all runs, and by the names logged) and
 * flor_project_checkpoints (which decodes the stored manifests).
 *
 * Input: the whole flor.db file, written into a fresh project directory
 * (no WAL or journal beside it).  Checked: every call returns 0 or one of
 * its documented codes with a message, and every table it returns can be
 * read cell by cell (types valid, text never NULL).
 */
#include "flor.h"
#include "fuzz.h"

static char proj[300], datadir[320], dbpath[340], wal[360], shm[360], journal[360];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    unsetenv("FLOR_DIR");
    snprintf(proj, sizeof proj, "%s/proj", fuzz_scratch());
    snprintf(datadir, sizeof datadir, "%s/.flor", proj);
    snprintf(dbpath, sizeof dbpath, "%s/flor.db", datadir);
    snprintf(wal, sizeof wal, "%s-wal", dbpath);
    snprintf(shm, sizeof shm, "%s-shm", dbpath);
    snprintf(journal, sizeof journal, "%s-journal", dbpath);
    mkdir(proj, 0755);
    mkdir(datadir, 0755);
    return 0;
}

static int rc_ok(int rc)
{
    return rc == 0 || rc == FLOR_ECORRUPT || rc == FLOR_EIO || rc == FLOR_ENOTFOUND ||
           rc == FLOR_EINVAL || rc == FLOR_ENOMEM || rc == FLOR_EBUSY;
}

static void read_table(int rc, flor_table *t, const char *what)
{
    FUZZ_CHECK(rc_ok(rc), "%s: rc %d", what, rc);
    FUZZ_CHECK(rc == 0 || *flor_errmsg(), "%s: an error without a message", what);
    FUZZ_CHECK((rc == 0) == (t != NULL), "%s: rc %d with table %p", what, rc, (void *)t);
    if (!t)
        return;
    size_t nc = flor_table_ncols(t), nr = flor_table_nrows(t);
    for (size_t c = 0; c < nc; c++)
        FUZZ_CHECK(flor_table_colname(t, c), "%s: column %zu has no name", what, c);
    for (size_t r = 0; r < nr; r++)
        for (size_t c = 0; c < nc; c++) {
            flor_type ty = flor_table_type(t, r, c);
            if (ty == FLOR_INTEGER)
                (void)flor_table_int(t, r, c);
            else if (ty == FLOR_REAL)
                (void)flor_table_real(t, r, c);
            else if (ty == FLOR_TEXT)
                FUZZ_CHECK(flor_table_text(t, r, c), "%s: text cell (%zu, %zu) is NULL", what, r, c);
            else
                FUZZ_CHECK(ty == FLOR_NULL, "%s: type %d", what, (int)ty);
        }
    flor_table_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unlink(wal);
    unlink(shm);
    unlink(journal);
    fuzz_write(dbpath, data, size);
    flor_project *p = NULL;
    int rc = flor_project_open(&p, proj);
    FUZZ_CHECK(rc_ok(rc), "open: rc %d", rc);
    FUZZ_CHECK((rc == 0) == (p != NULL), "open: rc %d with project %p", rc, (void *)p);
    if (rc)
        return 0;
    flor_table *t = NULL;
    read_table(flor_project_runs(p, &t), t, "runs");
    t = NULL;
    read_table(flor_project_dataframe(p, NULL, 0, &t), t, "dataframe");
    /* the names logged, as the dataframe by names would be asked for */
    flor_table *names = NULL;
    if (flor_project_query(p, "SELECT DISTINCT name FROM logs LIMIT 4", &names) == 0) {
        const char *v[4];
        size_t n = 0;
        for (size_t r = 0; r < flor_table_nrows(names) && n < 4; r++)
            if (flor_table_type(names, r, 0) == FLOR_TEXT)
                v[n++] = flor_table_text(names, r, 0);
        t = NULL;
        if (n)
            read_table(flor_project_dataframe(p, v, n, &t), t, "dataframe by name");
    }
    flor_table_free(names);
    t = NULL;
    read_table(flor_project_checkpoints(p, 0, &t), t, "checkpoints");
    flor_project_free(p);
    return 0;
}
