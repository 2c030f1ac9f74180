/*
 * state.c -- the registry of checkpointed state and its staging area
 * (the public flor_checkpoint* calls that fill it are in register.c).
 *
 * Each registered object owns a staging buffer that is reused by every
 * checkpoint, so a snapshot is a warm memcpy.  Fresh memory is expensive
 * to touch the first time: on a virtual machine such as the one this was
 * measured on, a 512 MB copy takes 0.7-1.6 s into fresh pages and 40 ms
 * into warm ones, and MAP_POPULATE alone does not help (the kernel fills
 * the pages, but the first write from user space still faults through
 * the hypervisor on each 4 KB page).  So large staging is mapped with
 * transparent huge pages asked for (MADV_HUGEPAGE; 256 faults for 512 MB
 * instead of 131,072), and it is warmed by writing to each page from
 * user space: for a flat buffer, by the checkpoint writer thread right
 * after registration (ckpt.c), on the core training does not use, so
 * neither registration nor the first snapshot pays for it.  A callback
 * object's staging grows on demand and is warmed by the copy into it.
 *
 * The checkpoint writer reads the registry and the staging buffers while
 * it works; registration and removal (register.c) first wait until it is
 * idle, so the two never overlap.
 */
#include "checkpoint/checkpoint.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

flor__states flor__S;

void flor__state_set_recording(int staging, void (*on_error)(const char *msg))
{
    flor__S.staging = staging;
    flor__S.on_error = on_error;
}

void flor__state_set_on_register(int (*on_register)(flor__state *s))
{
    flor__S.on_register = on_register;
}

static void stage_free(flor__state *s)
{
    if (s->stage)
        munmap(s->stage, s->stage_cap);
    s->stage = NULL;
    s->stage_cap = 0;
}

#define HUGE_PAGE ((size_t)2 << 20)

/* CAP bytes of anonymous memory, not yet touched; from HUGE_PAGE up,
 * aligned to and a multiple of huge pages, with huge pages asked for. */
static void *stage_map(size_t *cap)
{
    if (*cap < HUGE_PAGE)
        return mmap(NULL, *cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    size_t want = (*cap + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    char *p = mmap(NULL, want + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (p == MAP_FAILED)
        return p;
    size_t head = (HUGE_PAGE - (uintptr_t)p % HUGE_PAGE) % HUGE_PAGE;
    if (head)
        munmap(p, head);
    munmap(p + head + want, HUGE_PAGE - head);
    p += head;
#ifdef MADV_HUGEPAGE
    madvise(p, want, MADV_HUGEPAGE); /* advice: without it, 4 KB pages */
#endif
    *cap = want;
    return p;
}

/* Makes S's staging hold at least N bytes; fresh staging is cold (not
 * yet touched) until flor__state_stage_warm or a snapshot writes it. */
int flor__state_stage_reserve(flor__state *s, size_t n)
{
    if (n <= s->stage_cap && s->stage)
        return 0;
    size_t cap = n < 4096 ? 4096 : n;
    if (s->ops.size) /* variable size: leave room to grow */
        cap += cap / 4;
    void *p = stage_map(&cap);
    if (p == MAP_FAILED)
        return flor__err(FLOR_ENOMEM, "cannot reserve %zu bytes of staging for '%s'", cap,
                         s->name);
    stage_free(s);
    s->stage = p;
    s->stage_cap = cap;
    s->stage_cold = 1;
    return 0;
}

void flor__state_stage_warm(flor__state *s)
{
    if (!s->stage || !s->stage_cold)
        return;
    volatile char *p = s->stage;
    for (size_t i = 0; i < s->stage_cap; i += 4096)
        p[i] = 0;
    s->stage_cold = 0;
}

flor__state *flor__state_find(const char *name)
{
    for (int i = 0; i < flor__S.n; i++)
        if (strcmp(flor__S.v[i].name, name) == 0)
            return &flor__S.v[i];
    return NULL;
}

void flor__state_forget_previous(flor__state *s)
{
    flor__obj_release(&s->prev);
    s->has_prev = 0;
}

flor__state *flor__state_new(const char *name)
{
    if (flor__S.n == flor__S.cap) {
        int cap = flor__S.cap ? flor__S.cap * 2 : 8;
        flor__state *v = realloc(flor__S.v, (size_t)cap * sizeof *v);
        if (!v) {
            flor__err(FLOR_ENOMEM, "out of memory");
            return NULL;
        }
        flor__S.v = v;
        flor__S.cap = cap;
    }
    flor__state *s = &flor__S.v[flor__S.n];
    memset(s, 0, sizeof *s);
    if (!(s->name = flor__strdup(name))) {
        flor__err(FLOR_ENOMEM, "out of memory");
        return NULL;
    }
    flor__S.n++;
    return s;
}

void flor__state_remove(flor__state *s)
{
    stage_free(s);
    flor__state_forget_previous(s);
    free(s->name);
    *s = flor__S.v[--flor__S.n];
}

/* Copies every object into its staging; returns the bytes copied. */
int flor__state_snapshot(size_t *total)
{
    *total = 0;
    for (int i = 0; i < flor__S.n; i++) {
        flor__state *s = &flor__S.v[i];
        size_t n = s->ops.size ? s->ops.size(s->self) : s->nbytes;
        int rc = flor__state_stage_reserve(s, n);
        if (rc)
            return rc;
        if (s->ops.save) {
            rc = s->ops.save(s->self, s->stage, n);
            if (rc)
                return flor__err(rc < 0 ? rc : FLOR_EIO, "cannot save '%s': its save callback "
                                                         "returned %d", s->name, rc);
        } else if (n) {
            memcpy(s->stage, s->data, n);
        }
        s->stage_len = n;
        s->stage_cold = 0; /* written: from now on a warm copy */
        *total += n;
    }
    return 0;
}

const char *flor__dtype_name(flor_dtype t)
{
    static const char *names[] = {"bytes", "u8", "i32", "i64", "f16", "bf16", "f32", "f64"};
    return (unsigned)t <= FLOR_F64 ? names[t] : "bytes";
}

size_t flor__dtype_size(flor_dtype t)
{
    static const size_t sizes[] = {1, 1, 4, 8, 2, 2, 4, 8};
    return (unsigned)t <= FLOR_F64 ? sizes[t] : 1;
}
