/*
 * schema.c -- flor's tables in a team's PostgreSQL: the only DDL of the
 * layer (docs/team.md lists the tables).  The rows of each checkout's
 * SQLite journal arrive keyed by the checkout's id and the row's local
 * id, so that rows from many checkouts never collide and a row copied
 * twice is still one row.
 */
#include "base/base.h"
#include "pg/pg.h"

#include <stdlib.h>
#include <string.h>


static const char *const schema_v1 =
    "CREATE TABLE flor_meta (\n"
    "  key   text PRIMARY KEY,\n"
    "  value text NOT NULL\n"
    ");\n"
    "CREATE TABLE flor_checkouts (\n"
    "  checkout   text PRIMARY KEY,\n"
    "  projid     text NOT NULL,\n"
    "  host       text NOT NULL,\n"
    "  path       text NOT NULL,\n"
    "  first_sync timestamptz NOT NULL DEFAULT now(),\n"
    "  last_sync  timestamptz NOT NULL DEFAULT now()\n"
    ");\n"
    "CREATE TABLE flor_sync (\n"
    "  checkout text NOT NULL REFERENCES flor_checkouts,\n"
    "  tbl      text NOT NULL,\n"
    "  high     bigint NOT NULL,\n"
    "  PRIMARY KEY (checkout, tbl)\n"
    ");\n"
    "CREATE TABLE flor_runs (\n"
    "  checkout      text NOT NULL REFERENCES flor_checkouts,\n"
    "  run_id        bigint NOT NULL,\n"
    "  projid        text NOT NULL,\n"
    "  tstamp        text NOT NULL,\n"
    "  filename      text NOT NULL,\n"
    "  vid           text,\n"
    "  argv          text NOT NULL,\n"
    "  host          text NOT NULL,\n"
    "  pid           bigint NOT NULL,\n"
    "  proc_start    text,\n"
    "  status        text NOT NULL\n"
    "                CHECK (status IN ('running','finished','failed','killed')),\n"
    "  start_time    double precision NOT NULL,\n"
    "  end_time      double precision,\n"
    "  ckpt_overhead double precision,\n"
    "  reason        text,\n"
    "  rank          integer NOT NULL DEFAULT 0,\n"
    "  world_size    integer NOT NULL DEFAULT 1,\n"
    "  job           text,\n"
    "  launcher      text,\n"
    "  PRIMARY KEY (checkout, run_id)\n"
    ");\n"
    "CREATE INDEX flor_runs_by_project ON flor_runs (projid, tstamp);\n"
    "CREATE TABLE flor_logs (\n"
    "  checkout   text NOT NULL,\n"
    "  log_id     bigint NOT NULL,\n"
    "  run_id     bigint NOT NULL,\n"
    "  ctx_id     bigint,\n"
    "  name       text NOT NULL,\n"
    "  value_int  bigint,\n"
    "  value_real double precision,\n"
    "  value_text text,\n"
    "  source     text NOT NULL CHECK (source IN ('record','replay')),\n"
    "  PRIMARY KEY (checkout, log_id),\n"
    "  FOREIGN KEY (checkout, run_id) REFERENCES flor_runs,\n"
    "  CHECK ((value_int IS NOT NULL)::int + (value_real IS NOT NULL)::int\n"
    "         + (value_text IS NOT NULL)::int <= 1)\n"
    ");\n"
    "CREATE INDEX flor_logs_by_run ON flor_logs (checkout, run_id);\n"
    "CREATE UNIQUE INDEX flor_logs_replayed_once\n"
    "  ON flor_logs (checkout, run_id, coalesce(ctx_id, 0), name) WHERE source = 'replay';\n"
    "CREATE INDEX flor_logs_by_name ON flor_logs (name);\n";

/* Version 2: what the dataframe needs besides runs and logs (each run's
 * args, the loop iterations its logs are in) and the count of a run's
 * resumes (when it grows, the server's logs and loops of the run were
 * replaced by the journal's, which a resume changed).  The many rows
 * (logs, loops) carry no foreign key and logs no index by name: checked
 * or indexed per row, they took a fifth of the rate of a copy, and the
 * replicator copies a run's row before any of its rows. */
static const char *const schema_v2 =
    "ALTER TABLE flor_logs DROP CONSTRAINT IF EXISTS flor_logs_checkout_run_id_fkey;\n"
    "DROP INDEX IF EXISTS flor_logs_by_name;\n"
    "ALTER TABLE flor_runs ADD COLUMN resumes integer NOT NULL DEFAULT 0;\n"
    "CREATE TABLE flor_args (\n"
    "  checkout    text NOT NULL,\n"
    "  run_id      bigint NOT NULL,\n"
    "  name        text NOT NULL,\n"
    "  value_int   bigint,\n"
    "  value_real  double precision,\n"
    "  value_text  text,\n"
    "  from_kwargs integer NOT NULL,\n"
    "  ord         integer NOT NULL,\n"
    "  PRIMARY KEY (checkout, run_id, name),\n"
    "  FOREIGN KEY (checkout, run_id) REFERENCES flor_runs\n"
    ");\n"
    "CREATE TABLE flor_loops (\n"
    "  checkout      text NOT NULL,\n"
    "  run_id        bigint NOT NULL,\n"
    "  ctx_id        bigint NOT NULL,\n"
    "  parent_ctx_id bigint,\n"
    "  name          text NOT NULL,\n"
    "  iteration     bigint NOT NULL,\n"
    "  value_int     bigint,\n"
    "  value_real    double precision,\n"
    "  value_text    text,\n"
    "  upto          bigint NOT NULL,\n"
    "  PRIMARY KEY (checkout, run_id, ctx_id)\n"
    ");\n"
    "CREATE INDEX flor_loops_by_upto ON flor_loops (checkout, upto);\n"
    "UPDATE flor_meta SET value = '2' WHERE key = 'schema_version';\n";

/* One key of pg_advisory_xact_lock for making the tables ("flor" in ASCII). */
#define SCHEMA_LOCK "1718382450"

static int check_or_make(flor__pg *pg)
{
    const char *where = flor__pg_where(pg);
    char buf[256];
    int rc = flor__pg_scalar(pg, "SELECT coalesce(current_schema(), '')", 0, NULL, buf, sizeof buf);
    if (rc != 0)
        return rc;
    if (!buf[0])
        return flor__err(FLOR_EINVAL,
                         "%s: no schema to keep flor's tables in: the search_path names none that exists",
                         where);
    rc = flor__pg_exec(pg, "SELECT pg_advisory_xact_lock(" SCHEMA_LOCK ")");
    if (rc != 0)
        return rc;
    rc = flor__pg_scalar(pg, "SELECT coalesce(to_regclass('flor_meta')::text, '')", 0, NULL,
                         buf, sizeof buf);
    if (rc != 0)
        return rc;
    if (!buf[0]) {
        char other[256] = "";
        rc = flor__pg_scalar(pg,
                             "SELECT coalesce(min(c.relname), '') FROM pg_class c"
                             " JOIN pg_namespace n ON n.oid = c.relnamespace"
                             " WHERE n.nspname = current_schema()"
                             " AND c.relkind IN ('r', 'p', 'v', 'm', 'f')",
                             0, NULL, other, sizeof other);
        if (rc != 0)
            return rc;
        if (other[0])
            return flor__err(FLOR_EINVAL,
                             "%s: a database of another program: it holds the table '%s' and no "
                             "flor_meta; give flor an empty database (or schema) of its own",
                             where, other);
        rc = flor__pg_exec(pg, schema_v1);
        if (rc != 0)
            return rc;
        rc = flor__pg_exec(pg, "INSERT INTO flor_meta(key, value) VALUES ('program', 'flor'),"
                               " ('schema_version', '1')");
        return rc ? rc : flor__pg_exec(pg, schema_v2);
    }
    rc = flor__pg_scalar(pg, "SELECT coalesce(max(value), '') FROM flor_meta WHERE key = 'program'",
                         0, NULL, buf, sizeof buf);
    if (rc != 0)
        return rc;
    if (strcmp(buf, "flor") != 0)
        return flor__err(FLOR_EINVAL,
                         "%s: a database of another program: its flor_meta does not say 'flor' "
                         "(program = '%s')",
                         where, buf);
    rc = flor__pg_scalar(pg,
                         "SELECT coalesce(max(value), '') FROM flor_meta WHERE key = 'schema_version'",
                         0, NULL, buf, sizeof buf);
    if (rc != 0)
        return rc;
    char *end = NULL;
    long v = strtol(buf, &end, 10);
    if (!buf[0] || *end || v < 1)
        return flor__err(FLOR_EINVAL, "%s: flor_meta's schema_version is '%s', expected a number",
                         where, buf);
    if (v > FLOR__PG_SCHEMA_VERSION)
        return flor__err(FLOR_EINVAL,
                         "%s: flor's tables there are of schema version %ld, newer than this flor's "
                         "%d: upgrade flor",
                         where, v, FLOR__PG_SCHEMA_VERSION);
    /* Older tables are brought up to this version in the same transaction. */
    return v < 2 ? flor__pg_exec(pg, schema_v2) : 0;
}

int flor__pg_schema(flor__pg *pg)
{
    int rc = flor__pg_begin(pg);
    if (rc != 0)
        return rc;
    rc = check_or_make(pg);
    if (rc != 0) {
        flor__pg_end(pg, 0);
        return rc;
    }
    return flor__pg_end(pg, 1);
}
