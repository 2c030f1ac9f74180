/*
 * query/query.h -- the query layer's own header: what the files of
 * src/query share to build flor_project_dataframe()'s pivoted view.
 * Private to src/query (not in internal.h).  The layer reads the database
 * through the project (project/project.h, db/db.h): it is the query
 * layer's reader, so it builds its own SELECTs over runs, args, logs and
 * loops here rather than in src/db's table-group files.
 *
 *   arena.c   growing arrays, the text arena, a column's value as a cell
 *   strmap.c  names to dense ids, in order of first insertion
 *   df.c      the state of one call: database reads, the output's columns
 *   frame.c   the entry point, the runs and args read, the view with no
 *             names (one row per run)
 *   pivot.c   the view with names: loops, per-name frames, coordinates
 *   merge.c   the outer merge of the frames (a sort-merge join)
 */
#ifndef FLOR_QUERY_QUERY_H
#define FLOR_QUERY_QUERY_H

#include "base/base.h"
#include "db/db.h"
#include "project/project.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NIL INT64_MIN /* a NULL coordinate or parent */

/* ---- arena.c ------------------------------------------------------------------ */

/* Reports FLOR_ENOMEM for the dataframe; returns it. */
int flor__df_oom(void);
/* Grows *PP (an array of elements of SIZE, *CAP of them) to hold NEED.
 * Inline, as the helpers below: the dataframe calls them once per row. */
static inline int flor__df_grow(void *pp, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    if (c > SIZE_MAX / size)
        return flor__df_oom();
    void *p = realloc(*(void **)pp, c * size);
    if (!p)
        return flor__df_oom();
    *(void **)pp = p;
    *cap = c;
    return 0;
}

/* As flor__df_grow(), with the new elements zeroed. */
static inline int flor__df_grow_zero(void *pp, size_t *cap, size_t need, size_t size)
{
    size_t old = *cap;
    int rc = flor__df_grow(pp, cap, need, size);
    if (!rc && *cap > old)
        memset((char *)*(void **)pp + old * size, 0, (*cap - old) * size);
    return rc;
}

/* Mixes V into the hash H. */
static inline uint64_t flor__df_mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 29);
}

/* The least power of two >= N, and >= 16. */
static inline size_t flor__df_pow2(size_t n)
{
    size_t c = 16;
    while (c < n)
        c *= 2;
    return c;
}

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    char data[];
} chunk;

/* The strings of the values read, freed all at once. */
typedef struct arena {
    chunk *head;
} arena;

/* N bytes that live as long as the arena; NULL when out of memory. */
char *flor__arena_alloc(arena *a, size_t n);
/* A NUL-terminated copy of S[N] in the arena. */
char *flor__arena_copy(arena *a, const char *s, size_t n);
void flor__arena_release(arena *a);
/* Column COL of ST as a cell whose text (if any) lives in the arena. */
int flor__df_read_cell(arena *a, sqlite3_stmt *st, int col, flor__cell *out);
/* Column COL of ST as text in the arena ("" for NULL). */
const char *flor__df_column_str(arena *a, sqlite3_stmt *st, int col);

/* ---- strmap.c ----------------------------------------------------------------- */

typedef struct strmap {
    const char **keys; /* by id; in the arena */
    size_t n, cap;
    uint32_t *slots;   /* id + 1; 0 is empty */
    size_t nslots;
} strmap;

/* The id of S, or -1. */
long flor__strmap_find(const strmap *m, const char *s);
/* Finds S, adding it (a copy in A) when missing; *ID is its id. */
int flor__strmap_add(strmap *m, arena *a, const char *s, size_t *id);
void flor__strmap_release(strmap *m);

/* ---- df.c: the state of one dataframe call ----------------------------------------- */

typedef struct run_info {
    int64_t id;
    const char *projid, *tstamp, *filename;
    long rank;                 /* its process's rank in a run of several */
    size_t args_lo, args_hi;   /* its range in df.args */
    size_t logs_lo, logs_hi;   /* its range in df.logs (no-names view) */
    int used;                  /* has a row in the result */
    int loops_loaded;
    size_t loops_lo, loops_hi; /* its range in pivot.loops (names view) */
} run_info;

/* A value of a run under a name id (an arg, or a log outside loops). */
typedef struct named_cell {
    size_t name;
    flor__cell v;
} named_cell;

typedef struct df {
    flor_project *p;
    sqlite3 *db;
    arena text;
    run_info *runs;
    size_t nruns, runs_cap;
    strmap argnames;
    named_cell *args;
    size_t nargs, args_cap;
    strmap lognames;
    named_cell *logs;
    size_t nlogs, logs_cap;
    strmap taken;              /* names of the columns placed so far */
    size_t nfixed;             /* 3, or 4 with `rank` when a run has several processes */
} df;

/* The fixed first columns: projid, tstamp, filename, and `rank` when a
 * run of several processes is in the project (d->nfixed says). */
extern const char *const flor__df_fixed[4];

/* An SQLite error RC of the project's database, with WHAT. */
int flor__df_sql_error(df *d, int rc, const char *what);
/* Prepares SQL on the project's database. */
int flor__df_prepare(df *d, const char *sql, sqlite3_stmt **st);
/* The run of id ID, or NULL: a binary search (runs are in order of id). */
static inline run_info *flor__df_find_run(df *d, int64_t id)
{
    size_t lo = 0, hi = d->nruns;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->runs[mid].id < id)
            lo = mid + 1;
        else if (d->runs[mid].id > id)
            hi = mid;
        else
            return &d->runs[mid];
    }
    return NULL;
}
/* Claims column name S; *OK false when another column already has it. */
int flor__df_claim(df *d, const char *s, int *ok);
/* Claims the fixed columns' names. */
int flor__df_claim_fixed(df *d);
/* Maps each id of NAMES, taken from the cells of the used runs in order,
 * to an output column (from *NEXT on), or -1 when its name is taken; LOHI:
 * the runs' logs ranges, else their args ranges. */
int flor__df_place_columns(df *d, const strmap *names, const named_cell *list, int lohi,
                           long **colof, size_t *next);
/* Puts the cells LIST[LO, HI) of one run in their columns (COLOF). */
int flor__df_put_named(flor_table *t, size_t row, const named_cell *list, size_t lo, size_t hi,
                       const long *colof);
/* Copies V (whose text lives in the arena) into a cell of T. */
int flor__df_put_cell(flor_table *t, size_t row, size_t col, const flor__cell *v);
/* Fills the fixed columns of run R, and its args (their columns: ARGCOL). */
int flor__df_put_run_cells(df *d, flor_table *t, size_t row, const run_info *r,
                           const long *argcol);

/* ---- pivot.c ------------------------------------------------------------------ */

/* The view with names: the outer merge of one frame per name (N of them,
 * GIVEN), sorted by run and loop coordinates. */
int flor__df_names_view(df *d, const char *const *given, size_t n, flor_table **out);

/* The loops of each run are read in order of ctx_id into one array, and
 * the run keeps its range of it, so that finding (run, ctx) is a binary
 * search within the run (a direct hit when its ids are dense). */
typedef struct loop_ent {
    size_t run;       /* index in df.runs */
    int64_t ctx, parent, iter;
    size_t name;      /* id in loopnames */
    int depth;        /* 0 = outermost; -1 not yet known */
    size_t coords;    /* offset of its coordinates in the pool; 0 = not yet */
} loop_ent;

typedef struct loopmap {
    loop_ent *ents;
    size_t n, cap;
} loopmap;


typedef struct frow {
    size_t run;       /* index in df.runs */
    uint32_t ent;     /* 1 + index of its context in pivot.loops; 0 outside loops */
    size_t coords;    /* offset in the pool (0: all NULL) */
    flor__cell v;
} frow;

typedef struct nframe {
    frow *rows;
    size_t n, cap;
    unsigned char *has; /* per loop column: some row has a coordinate there */
} nframe;

typedef struct pivot {
    df *d;
    loopmap loops;
    sqlite3_stmt *loops_st; /* the loops of one run */
    strmap loopnames;
    int *mindepth;      /* per loop name: smallest depth reached, -1 never */
    size_t *firstseen;  /* per loop name: order in which it was reached */
    size_t nseen;
    long *colof;        /* per loop name: its loop column, or -1 */
    size_t L;           /* number of loop columns */
    int64_t *pool;      /* coordinates, L per context, [0, L) all NULL */
    size_t npool, pool_cap;
    strmap wanted;      /* the names asked for: id j is frames[j] */
    nframe *frames;
    size_t k;           /* number of names */
} pivot;

/* ---- merge.c ------------------------------------------------------------------ */

typedef struct merged {
    size_t n, cap;
    size_t *run;          /* n */
    int64_t *coords;      /* n * L */
    uint32_t *src;        /* n * k: 1 + the row of frame j for column j; 0 none */
    unsigned char *has;   /* L: loop columns so far */
} merged;

/* A row seen through its key: run, coordinates, and its index. */
typedef struct keyed {
    size_t run;
    const int64_t *c;
    size_t i;
} keyed;

typedef struct keyspec {
    const size_t *cols; /* the loop columns compared, in order */
    size_t n;
} keyspec;

/* Sorts A (N rows) stably by key K. */
int flor__keyed_sort(keyed *a, size_t n, const keyspec *k);
/* The outer merge of PV's frames, one after the other, into *RESULT. */
int flor__merge_all(const pivot *pv, merged *result);
void flor__merged_release(merged *m);

#endif /* FLOR_QUERY_QUERY_H */
