/*
 * merge.c -- the outer merge of the dataframe's per-name frames, as
 * pandas' merge(how="outer") does (a NULL key equals a NULL key): a
 * sort-merge join on run and the loop columns two sides share, whose
 * inputs almost always arrive sorted already.
 */
#include "query/query.h"

#include <stdlib.h>
#include <string.h>

static int merged_add(merged *m, size_t L, size_t k, size_t run)
{
    if (m->n + 1 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        size_t *r = realloc(m->run, cap * sizeof *r);
        if (r)
            m->run = r;
        int64_t *c = realloc(m->coords, cap * (L ? L : 1) * sizeof *c);
        if (c)
            m->coords = c;
        uint32_t *v = realloc(m->src, cap * k * sizeof *v);
        if (v)
            m->src = v;
        if (!r || !c || !v)
            return flor__df_oom();
        m->cap = cap;
    }
    m->run[m->n] = run;
    memset(m->src + m->n * k, 0, k * sizeof *m->src);
    m->n++;
    return 0;
}

void flor__merged_release(merged *m)
{
    free(m->run);
    free(m->coords);
    free(m->src);
    free(m->has);
    memset(m, 0, sizeof *m);
}

/* Orders by run, then by the key's columns, NULL first (NIL is the
 * smallest int64); a NULL equals a NULL, as NaN keys do in pandas. */
static int keyed_cmp(const keyed *x, const keyed *y, const keyspec *k)
{
    if (x->run != y->run)
        return x->run < y->run ? -1 : 1;
    for (size_t i = 0; i < k->n; i++) {
        int64_t a = x->c[k->cols[i]], b = y->c[k->cols[i]];
        if (a != b)
            return a < b ? -1 : 1;
    }
    return 0;
}

static void keyed_msort(keyed *a, keyed *tmp, size_t n, const keyspec *k)
{
    if (n < 2)
        return;
    size_t h = n / 2, i = 0, j = h, o = 0;
    keyed_msort(a, tmp, h, k);
    keyed_msort(a + h, tmp, n - h, k);
    if (keyed_cmp(&a[h - 1], &a[h], k) <= 0)
        return; /* already in order */
    while (i < h && j < n)
        tmp[o++] = keyed_cmp(&a[j], &a[i], k) < 0 ? a[j++] : a[i++];
    while (i < h)
        tmp[o++] = a[i++];
    while (j < n)
        tmp[o++] = a[j++];
    memcpy(a, tmp, n * sizeof *a);
}

/* Sorts A stably by key.  The rows usually come in order already, which
 * costs one pass. */
int flor__keyed_sort(keyed *a, size_t n, const keyspec *k)
{
    size_t i = 1;
    while (i < n && keyed_cmp(&a[i - 1], &a[i], k) <= 0)
        i++;
    if (i >= n)
        return 0;
    keyed *tmp = malloc(n * sizeof *tmp);
    if (!tmp)
        return flor__df_oom();
    keyed_msort(a, tmp, n, k);
    free(tmp);
    return 0;
}

/* Appends the row made of IN's row I (or none: SIZE_MAX) and F's row FI
 * (or none) to OUT; coordinates coalesce, as the key columns agree. */
static int emit(const pivot *pv, merged *out, const merged *in, size_t i, const nframe *f,
                size_t fi, size_t j)
{
    size_t L = pv->L, k = pv->k;
    size_t run = i != SIZE_MAX ? in->run[i] : f->rows[fi].run;
    if (merged_add(out, L, k, run) != 0)
        return FLOR_ENOMEM;
    size_t o = out->n - 1;
    const int64_t *a = i != SIZE_MAX ? in->coords + i * L : NULL;
    const int64_t *b = fi != SIZE_MAX ? pv->pool + f->rows[fi].coords : NULL;
    for (size_t c = 0; c < L; c++)
        out->coords[o * L + c] = a && a[c] != NIL ? a[c] : b ? b[c] : NIL;
    if (i != SIZE_MAX)
        memcpy(out->src + o * k, in->src + i * k, k * sizeof *out->src);
    if (fi != SIZE_MAX)
        out->src[o * k + j] = (uint32_t)fi + 1;
    return 0;
}

/* The sort-merge join of IN's rows A and frame J's rows B, both sorted
 * by KS: every pair with equal keys, and each row that has none. */
static int join(const pivot *pv, const merged *in, const keyed *a, const keyed *b, size_t j,
                const keyspec *ks, merged *out)
{
    const nframe *f = &pv->frames[j];
    size_t na = in->n, nb = f->n, i = 0, fi = 0;
    int rc = 0;
    while (!rc && (i < na || fi < nb)) {
        int c = i == na ? 1 : fi == nb ? -1 : keyed_cmp(&a[i], &b[fi], ks);
        if (c < 0) {
            rc = emit(pv, out, in, a[i++].i, f, SIZE_MAX, j);
        } else if (c > 0) {
            rc = emit(pv, out, NULL, SIZE_MAX, f, b[fi++].i, j);
        } else {
            size_t i2 = i + 1, f2 = fi + 1;
            while (i2 < na && keyed_cmp(&a[i2], &a[i], ks) == 0)
                i2++;
            while (f2 < nb && keyed_cmp(&b[f2], &b[fi], ks) == 0)
                f2++;
            for (size_t x = i; !rc && x < i2; x++)
                for (size_t y = fi; !rc && y < f2; y++)
                    rc = emit(pv, out, in, a[x].i, f, b[y].i, j);
            i = i2;
            fi = f2;
        }
    }
    return rc;
}

/* OUT = IN outer-merged with frame J on run and their common loop columns. */
static int merge_one(const pivot *pv, const merged *in, size_t j, merged *out)
{
    const nframe *f = &pv->frames[j];
    size_t L = pv->L, nkey = 0;
    size_t *cols = malloc((L ? L : 1) * sizeof *cols);
    keyed *a = malloc((in->n ? in->n : 1) * sizeof *a);
    keyed *b = malloc((f->n ? f->n : 1) * sizeof *b);
    int rc = cols && a && b ? 0 : flor__df_oom();
    for (size_t c = 0; !rc && c < L; c++)
        if (in->has[c] && f->has[c])
            cols[nkey++] = c;
    keyspec ks = {cols, nkey};
    for (size_t i = 0; !rc && i < in->n; i++)
        a[i] = (keyed){in->run[i], in->coords + i * L, i};
    for (size_t i = 0; !rc && i < f->n; i++)
        b[i] = (keyed){f->rows[i].run, pv->pool + f->rows[i].coords, i};
    if (!rc)
        rc = flor__keyed_sort(a, in->n, &ks);
    if (!rc)
        rc = flor__keyed_sort(b, f->n, &ks);
    if (!rc)
        rc = join(pv, in, a, b, j, &ks, out);
    if (!rc && !(out->has = malloc(L ? L : 1)))
        rc = flor__df_oom();
    for (size_t c = 0; !rc && c < L; c++)
        out->has[c] = in->has[c] | f->has[c];
    free(cols);
    free(a);
    free(b);
    return rc;
}

int flor__merge_all(const pivot *pv, merged *result)
{
    merged cur = {0};
    if (!(cur.has = calloc(pv->L ? pv->L : 1, 1)))
        return flor__df_oom();
    for (size_t j = 0; j < pv->k; j++) {
        merged next = {0};
        int rc = merge_one(pv, &cur, j, &next);
        flor__merged_release(&cur);
        if (rc) {
            flor__merged_release(&next);
            return rc;
        }
        cur = next;
    }
    *result = cur;
    return 0;
}
