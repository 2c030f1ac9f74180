/*
 * linear.c -- the "hello world" of deep learning, in one C file, recorded
 * by flor.
 *
 * A two-layer perceptron learns to tell apart the ten kinds of clothing in
 * Fashion-MNIST (28x28 grey images of shirts, sneakers, bags, ...):
 *
 *     x (784 pixels in [0,1])
 *       -> h = relu(x W1 + b1)            W1: 784 x hidden
 *       -> z = h W2 + b2                  W2: hidden x 10
 *       -> loss = cross_entropy(softmax(z), label)
 *
 * trained with minibatch Adam (beta1 0.9, beta2 0.999, eps 1e-8) on
 * float32 parameters.  The forward pass, the backward pass and the
 * optimizer are written out by hand below in plain C, in the spirit of
 * llm.c.
 *
 * flor records the run: the hyperparameters (flor_arg), the batch loss
 * every `print_every` steps with its (epoch, step) coordinates, the test
 * accuracy after every epoch, and the final test accuracy.  The program
 * prints the same values, exactly as `flor dataframe` shows them:
 *
 *     epoch 0 step 500 loss 0.9692328742130717
 *     epoch 0 acc 0.846 (train 4.61 s, eval 0.32 s)
 *     final acc 0.8808
 *
 * Try
 *
 *     linear                                      # defaults below
 *     linear --kwargs epochs=2 lr=0.01 hidden=75  # overridden
 *     flor dataframe                              # one row per run
 *     flor dataframe loss acc                     # the curves
 *
 * Hyperparameters (all --kwargs NAME=VALUE):
 *     hidden 500, epochs 5, batch_size 32, lr 1e-3, seed 78,
 *     print_every 500, ntrain 0 (all 60000 training images, or the first
 *     N), ntest 0 (all 10000 test images, or the first N).
 *
 * The data is read from /usr/share/datasets/fashion-mnist (Debian package
 * dataset-fashion-mnist), or from the directory in $FLOR_DATA, as the four
 * gzip'd IDX files the dataset ships as.
 *
 * Determinism.  A run is a pure function of its arguments: one seeded
 * generator (splitmix64) draws the initial weights and the shuffles, the
 * math is single-threaded and always summed in the same order, and no
 * -ffast-math.  The same binary with the same arguments logs bit-identical
 * values.  Everything that carries over from one epoch to the next lives in
 * the few flat buffers of `struct state` below, so restoring them at an
 * epoch boundary continues training exactly where it was.
 *
 * Build: `make` builds it as build/examples/linear, in essence
 * `cc -std=c11 -O3 -fno-math-errno linear.c -lflor -lz -lm`.  On one core
 * an epoch of the 60000 images takes about 4-5 s at hidden=500.
 */
#define _POSIX_C_SOURCE 200809L /* fileno, clock_gettime under -std=c11 */
#include <flor.h>

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#define NPIXELS 784 /* 28 x 28 */
#define NCLASSES 10
#define DEFAULT_DATA "/usr/share/datasets/fashion-mnist"

/* ------------------------------------------------------------------------
 * Random numbers: splitmix64, whose whole state is one uint64_t.
 * ------------------------------------------------------------------------ */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [-a, a), from the top 24 bits (exact in a float). */
static float rng_uniform(uint64_t *s, float a)
{
    float u = (float)(rng_next(s) >> 40) * (1.0f / 16777216.0f); /* [0, 1) */
    return (2.0f * u - 1.0f) * a;
}

/* Uniform integer in [0, n), without modulo bias. */
static uint32_t rng_below(uint64_t *s, uint32_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t r;
    do
        r = rng_next(s);
    while (r >= limit);
    return (uint32_t)(r % n);
}

/* ------------------------------------------------------------------------
 * Data: Fashion-MNIST as gzip'd IDX files.  An IDX file is a big-endian
 * header (magic 0x00000800 | ndims, then each dimension) and the bytes.
 * ------------------------------------------------------------------------ */

typedef struct {
    int n;           /* number of examples */
    uint8_t *pixels; /* n x 784, 0..255 */
    uint8_t *labels; /* n, 0..9 */
} dataset;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("linear: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads the first WANT items (0: all; the value of the hyperparameter
 * ARG) of the IDX file DIR/NAME, whose items must be ITEM bytes each (784
 * for images, 1 for labels).  Returns the bytes and stores the number of
 * items read in *COUNT. */
static uint8_t *read_idx(const char *dir, const char *name, int ndims, size_t item,
                         const char *arg, long want, int *count)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        fprintf(stderr, "linear: cannot open %s: %s\n", path, strerror(e));
        if (e == ENOENT)
            fprintf(stderr, "linear: the Fashion-MNIST data is missing; install it with "
                            "`apt-get install dataset-fashion-mnist`, or set FLOR_DATA to a "
                            "directory that holds the four *-ubyte.gz files\n");
        exit(1);
    }
    gzFile gz = gzdopen(fileno(f), "rb");
    if (!gz)
        die("%s: cannot start decompressing", path);
    unsigned char hdr[16];
    size_t hlen = 4 * (size_t)(1 + ndims);
    if (gzread(gz, hdr, (unsigned)hlen) != (int)hlen || be32(hdr) != (0x800u | (unsigned)ndims))
        die("%s: not an IDX file of %d dimension%s", path, ndims, ndims > 1 ? "s" : "");
    uint32_t n = be32(hdr + 4);
    if (ndims == 3 && (be32(hdr + 8) != 28 || be32(hdr + 12) != 28))
        die("%s: expected 28x28 images, found %ux%u", path, be32(hdr + 8), be32(hdr + 12));
    if (want > (long)n) {
        fprintf(stderr, "linear: --kwargs %s=%ld: %s holds only %u examples\n", arg, want, path, n);
        exit(2);
    }
    if (want > 0)
        n = (uint32_t)want;
    size_t bytes = (size_t)n * item;
    uint8_t *data = malloc(bytes ? bytes : 1);
    if (!data)
        die("out of memory reading %s", path);
    for (size_t done = 0; done < bytes;) {
        unsigned chunk = bytes - done > (1u << 30) ? (1u << 30) : (unsigned)(bytes - done);
        int got = gzread(gz, data + done, chunk);
        if (got <= 0)
            die("%s: truncated or corrupt (read %zu of %zu bytes)", path, done, bytes);
        done += (size_t)got;
    }
    gzclose(gz); /* also closes the descriptor of f */
    *count = (int)n;
    return data;
}

static dataset load(const char *dir, const char *images, const char *labels, const char *arg,
                    long want)
{
    dataset d;
    int nl;
    d.pixels = read_idx(dir, images, 3, NPIXELS, arg, want, &d.n);
    d.labels = read_idx(dir, labels, 1, 1, arg, want, &nl);
    if (nl != d.n)
        die("%s/%s has %d labels for %d images", dir, labels, nl, d.n);
    for (int i = 0; i < d.n; i++)
        if (d.labels[i] >= NCLASSES)
            die("%s/%s: label %d of example %d is out of range", dir, labels, d.labels[i], i);
    return d;
}

/* Copies examples idx[0..B) into x (B x 784 floats in [0,1]) and y. */
static void gather(const dataset *d, const int *idx, int B, float *restrict x, int *restrict y)
{
    for (int b = 0; b < B; b++) {
        const uint8_t *restrict p = d->pixels + (size_t)idx[b] * NPIXELS;
        float *restrict xb = x + (size_t)b * NPIXELS;
        for (int k = 0; k < NPIXELS; k++)
            xb[k] = (float)p[k] / 255.0f;
        y[b] = d->labels[idx[b]];
    }
}

/* ------------------------------------------------------------------------
 * The training state.
 *
 * Everything that one step hands to the next is here, in flat buffers:
 *   params   W1, b1, W2, b2 back to back in one float array (the model
 *            pointers are views into it),
 *   m, v     Adam's first and second moments, shaped exactly like params,
 *   t        Adam's step counter,
 *   rng      the random generator's state,
 *   order    the permutation of the training set, reshuffled in place
 *            from rng at the start of each epoch.
 * Nothing else survives an epoch boundary: activations and gradients are
 * scratch that every step overwrites.  So saving these buffers at the end
 * of an epoch and restoring them later reproduces the rest of training bit
 * for bit (this is what a checkpoint has to hold).
 * ------------------------------------------------------------------------ */

struct state {
    size_t nparams;
    float *params; /* [W1 | b1 | W2 | b2] */
    float *m, *v;  /* same layout as params */
    long t;        /* Adam steps taken */
    uint64_t rng;
    int *order; /* ntrain indices */
};

/* Views of one parameter-shaped array (params, m, v or the gradients). */
typedef struct {
    float *W1; /* 784 x H, row k holds the weights from pixel k */
    float *b1; /* H */
    float *W2; /* H x 10 */
    float *b2; /* 10 */
} layers;

static size_t param_count(int H) { return (size_t)NPIXELS * H + H + (size_t)H * NCLASSES + NCLASSES; }

static layers views(float *base, int H)
{
    layers l;
    l.W1 = base;
    l.b1 = l.W1 + (size_t)NPIXELS * H;
    l.W2 = l.b1 + H;
    l.b2 = l.W2 + (size_t)H * NCLASSES;
    return l;
}

static float *alloc_floats(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    if (!p)
        die("out of memory (%zu floats)", n);
    return p;
}

/* He-uniform weights for the ReLU layer, Glorot-uniform for the output
 * layer, zero biases; the moments start at zero and order at 0..n-1. */
static void init_state(struct state *s, int H, long seed, int ntrain)
{
    s->nparams = param_count(H);
    s->params = alloc_floats(s->nparams);
    s->m = alloc_floats(s->nparams);
    s->v = alloc_floats(s->nparams);
    s->t = 0;
    s->rng = (uint64_t)seed;
    s->order = malloc((size_t)(ntrain ? ntrain : 1) * sizeof *s->order);
    if (!s->order)
        die("out of memory");
    for (int i = 0; i < ntrain; i++)
        s->order[i] = i;
    layers p = views(s->params, H);
    float a1 = sqrtf(6.0f / NPIXELS), a2 = sqrtf(6.0f / (float)(H + NCLASSES));
    for (size_t i = 0; i < (size_t)NPIXELS * H; i++)
        p.W1[i] = rng_uniform(&s->rng, a1);
    for (size_t i = 0; i < (size_t)H * NCLASSES; i++)
        p.W2[i] = rng_uniform(&s->rng, a2);
}

/* Fisher-Yates, continuing from the previous epoch's order. */
static void shuffle(int *order, int n, uint64_t *rng)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(rng, (uint32_t)i + 1);
        int tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
}

/* ------------------------------------------------------------------------
 * The layers.  Matrices are row-major.  The two products that do nearly
 * all the work skip the zero inputs (background pixels, inactive ReLUs:
 * about half of them): they list the nonzero inputs first, then add up
 * scaled weight rows for just those, TILE output columns at a time, in
 * registers.  For that they use `float4`, a GCC/Clang vector of four
 * floats that adds and multiplies lane by lane: one SSE or NEON register.
 * Each output is always summed in the same order, so the results do not
 * depend on the vector width, and there is no fused multiply-add (C11
 * mode: -ffp-contract=off).
 * ------------------------------------------------------------------------ */

typedef float float4 __attribute__((vector_size(4 * sizeof(float)), aligned(4), may_alias));
#define TILE 32 /* eight float4 */

/* out[0..4*NV) = init (zeros if NULL) + the sum over t = 0 .. nnz-1, in
 * that order, of val[t] times the row at rows + idx[t] * stride.  NV is a
 * constant at each call, so the running sums live in NV registers. */
static inline void sum_rows_vec(float *restrict out, const float *restrict init,
                                const float *restrict rows, size_t stride,
                                const int *restrict idx, const float *restrict val, int nnz,
                                const int NV)
{
    float4 acc[TILE / 4];
    for (int v = 0; v < NV; v++)
        acc[v] = init ? ((const float4 *)init)[v] : (float4){0};
    for (int t = 0; t < nnz; t++) {
        const float4 *r = (const float4 *)(rows + (size_t)idx[t] * stride);
        for (int v = 0; v < NV; v++)
            acc[v] += val[t] * r[v];
    }
    for (int v = 0; v < NV; v++)
        ((float4 *)out)[v] = acc[v];
}

/* The same for the last M < 4 columns, one at a time. */
static inline void sum_rows_scalar(float *restrict out, const float *restrict init,
                                   const float *restrict rows, size_t stride,
                                   const int *restrict idx, const float *restrict val, int nnz,
                                   int m)
{
    for (int j = 0; j < m; j++) {
        float acc = init ? init[j] : 0.0f;
        for (int t = 0; t < nnz; t++)
            acc += val[t] * rows[(size_t)idx[t] * stride + j];
        out[j] = acc;
    }
}

/* The same across all N columns: TILE at a time, then 4, then 1. */
static inline void sum_rows(float *restrict out, const float *restrict init,
                            const float *restrict rows, size_t stride, const int *restrict idx,
                            const float *restrict val, int nnz, int N)
{
    int n = 0;
    for (; n + TILE <= N; n += TILE)
        sum_rows_vec(out + n, init ? init + n : NULL, rows + n, stride, idx, val, nnz, TILE / 4);
    for (; n + 4 <= N; n += 4)
        sum_rows_vec(out + n, init ? init + n : NULL, rows + n, stride, idx, val, nnz, 1);
    sum_rows_scalar(out + n, init ? init + n : NULL, rows + n, stride, idx, val, nnz, N - n);
}

/* out[B x N] = in[B x K] W[K x N] + bias.  Scratch: nzk, nzx (B x K
 * each), nnz (B). */
static void linear_forward(float *restrict out, const float *restrict in,
                           const float *restrict W, const float *restrict bias, int B, int K,
                           int N, int *restrict nzk, float *restrict nzx, int *restrict nnz)
{
    for (int b = 0; b < B; b++) {
        const float *restrict x = in + (size_t)b * K;
        int *restrict kb = nzk + (size_t)b * K;
        float *restrict xb = nzx + (size_t)b * K;
        int n = 0;
        for (int k = 0; k < K; k++)
            if (x[k] != 0.0f)
                kb[n] = k, xb[n++] = x[k];
        nnz[b] = n;
    }
    for (int b = 0; b < B; b++)
        sum_rows(out + (size_t)b * N, bias, W, (size_t)N, nzk + (size_t)b * K,
                 nzx + (size_t)b * K, nnz[b], N);
}

/* dW = in^T dout and dbias = the column sums of dout (both overwritten).
 * Scratch: nzb, nzx (B each). */
static void linear_backward_weights(float *restrict dW, float *restrict dbias,
                                    const float *restrict in, const float *restrict dout, int B,
                                    int K, int N, int *restrict nzb, float *restrict nzx)
{
    for (int k = 0; k < K; k++) {
        int nnz = 0;
        for (int b = 0; b < B; b++)
            if (in[(size_t)b * K + k] != 0.0f)
                nzb[nnz] = b, nzx[nnz++] = in[(size_t)b * K + k];
        sum_rows(dW + (size_t)k * N, NULL, dout, (size_t)N, nzb, nzx, nnz, N);
    }
    for (int n = 0; n < N; n++)
        dbias[n] = 0.0f;
    for (int b = 0; b < B; b++)
        for (int n = 0; n < N; n++)
            dbias[n] += dout[(size_t)b * N + n];
}

/* din = dout W^T, masked by the ReLU that produced `in` (din = 0 where
 * in <= 0). */
static void linear_backward_input_relu(float *restrict din, const float *restrict in,
                                       const float *restrict dout, const float *restrict W, int B,
                                       int K, int N)
{
    for (int b = 0; b < B; b++) {
        const float *restrict d = dout + (size_t)b * N;
        for (int k = 0; k < K; k++) {
            float acc = 0.0f;
            if (in[(size_t)b * K + k] > 0.0f) {
                const float *restrict w = W + (size_t)k * N;
                for (int n = 0; n < N; n++)
                    acc += d[n] * w[n];
            }
            din[(size_t)b * K + k] = acc;
        }
    }
}

static void relu(float *restrict x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

/* Softmax cross-entropy over the 10 logits of each example: returns the
 * mean loss and, when dz is not NULL, stores its gradient w.r.t. the
 * logits, (softmax - onehot) / B.  Exponentials and sums in double. */
static double softmax_xent(float *restrict dz, const float *restrict z, const int *restrict y,
                           int B)
{
    double total = 0.0;
    for (int b = 0; b < B; b++) {
        const float *zb = z + (size_t)b * NCLASSES;
        float max = zb[0];
        for (int c = 1; c < NCLASSES; c++)
            max = zb[c] > max ? zb[c] : max;
        double e[NCLASSES], sum = 0.0;
        for (int c = 0; c < NCLASSES; c++)
            sum += e[c] = exp((double)zb[c] - max);
        total += log(sum) - ((double)zb[y[b]] - max);
        if (dz)
            for (int c = 0; c < NCLASSES; c++)
                dz[(size_t)b * NCLASSES + c] = (float)((e[c] / sum - (c == y[b])) / B);
    }
    return total / B;
}

/* ------------------------------------------------------------------------
 * The model: forward, backward, Adam, evaluation.
 * ------------------------------------------------------------------------ */

/* Scratch: the activations and gradients of one batch of up to maxB
 * examples.  Every step overwrites all of it. */
typedef struct {
    int H, maxB;
    float *x;     /* maxB x 784 inputs */
    int *y;       /* maxB labels */
    float *h;     /* maxB x H hidden activations (after the ReLU) */
    float *dh;    /* maxB x H */
    float *z;     /* maxB x 10 logits */
    float *dz;    /* maxB x 10 */
    float *grads; /* shaped like the parameters */
    int *nzi;     /* maxB x max(784, H): the nonzero inputs' indices, */
    float *nzx;   /* their values, */
    int *nnz;     /* and how many there are (maxB) */
} scratch;

static scratch scratch_new(int H, int maxB, size_t nparams)
{
    scratch s;
    size_t width = (size_t)(H > NPIXELS ? H : NPIXELS);
    s.H = H;
    s.maxB = maxB;
    s.x = alloc_floats((size_t)maxB * NPIXELS);
    s.y = malloc((size_t)maxB * sizeof *s.y);
    s.h = alloc_floats((size_t)maxB * H);
    s.dh = alloc_floats((size_t)maxB * H);
    s.z = alloc_floats((size_t)maxB * NCLASSES);
    s.dz = alloc_floats((size_t)maxB * NCLASSES);
    s.grads = alloc_floats(nparams);
    s.nzi = malloc((size_t)maxB * width * sizeof *s.nzi);
    s.nzx = alloc_floats((size_t)maxB * width);
    s.nnz = malloc((size_t)maxB * sizeof *s.nnz);
    if (!s.y || !s.nzi || !s.nnz)
        die("out of memory");
    return s;
}

static void forward(scratch *s, const float *params, int B)
{
    layers p = views((float *)params, s->H);
    linear_forward(s->h, s->x, p.W1, p.b1, B, NPIXELS, s->H, s->nzi, s->nzx, s->nnz);
    relu(s->h, (size_t)B * s->H);
    linear_forward(s->z, s->h, p.W2, p.b2, B, s->H, NCLASSES, s->nzi, s->nzx, s->nnz);
}

/* One Adam update from the gradient g, with PyTorch's bias correction:
 * p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).  (The loop
 * vectorizes only with -fno-math-errno, since sqrtf may set errno; that
 * flag changes no result.) */
static void adam(struct state *st, const float *restrict g, double lr)
{
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    st->t++;
    double bc1 = 1.0 - pow(0.9, (double)st->t), bc2 = 1.0 - pow(0.999, (double)st->t);
    const float step = (float)(lr / bc1), rsqrt_bc2 = (float)(1.0 / sqrt(bc2));
    float *restrict p = st->params, *restrict m = st->m, *restrict v = st->v;
    for (size_t i = 0; i < st->nparams; i++) {
        m[i] = b1 * m[i] + (1.0f - b1) * g[i];
        v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        p[i] -= step * m[i] / (sqrtf(v[i]) * rsqrt_bc2 + eps);
    }
}

/* One step on the batch in s->x, s->y; returns the batch's mean loss. */
static double train_step(struct state *st, scratch *s, int B, double lr)
{
    const int H = s->H;
    forward(s, st->params, B);
    double loss = softmax_xent(s->dz, s->z, s->y, B);

    layers p = views(st->params, H), g = views(s->grads, H);
    linear_backward_weights(g.W2, g.b2, s->h, s->dz, B, H, NCLASSES, s->nzi, s->nzx);
    linear_backward_input_relu(s->dh, s->h, s->dz, p.W2, B, H, NCLASSES);
    linear_backward_weights(g.W1, g.b1, s->x, s->dh, B, NPIXELS, H, s->nzi, s->nzx);

    adam(st, s->grads, lr);
    return loss;
}

/* The fraction of the examples of d classified right, in batches of up
 * to s->maxB. */
static double evaluate(scratch *s, const float *params, const dataset *d)
{
    long correct = 0;
    int idx[512];
    int chunk = s->maxB < 512 ? s->maxB : 512;
    for (int start = 0; start < d->n; start += chunk) {
        int B = d->n - start < chunk ? d->n - start : chunk;
        for (int b = 0; b < B; b++)
            idx[b] = start + b;
        gather(d, idx, B, s->x, s->y);
        forward(s, params, B);
        for (int b = 0; b < B; b++) {
            const float *zb = s->z + (size_t)b * NCLASSES;
            int best = 0;
            for (int c = 1; c < NCLASSES; c++)
                if (zb[c] > zb[best])
                    best = c;
            correct += best == s->y[b];
        }
    }
    return d->n ? (double)correct / d->n : 0.0;
}

/* ------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------ */

/* Late in training some of Adam's moments and gradients decay into the
 * subnormal floats (below 1.2e-38), which x86 processors handle in slow
 * microcode: an epoch takes twice as long.  Flushing them to zero (the
 * FTZ and DAZ bits, as torch.set_flush_denormal does) is the usual cure;
 * it is deterministic, and values that small change nothing here. */
static void flush_denormals(void)
{
#if defined(__SSE__)
    _mm_setcsr(_mm_getcsr() | 0x8040); /* FTZ (bit 15) | DAZ (bit 6) */
#endif
}

/* A real as `flor dataframe` prints it: the shortest of %.15g, %.16g and
 * %.17g that reads back as the same double, with ".0" added to a whole
 * number.  So the printed values can be compared with the recorded ones
 * as strings. */
static const char *fmt_real(char *buf, size_t n, double x)
{
    if (isnan(x) || isinf(x))
        return isnan(x) ? "nan" : x < 0 ? "-inf" : "inf";
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            break;
    }
    if (buf[strspn(buf, "-0123456789")] == '\0')
        strncat(buf, ".0", n - strlen(buf) - 1);
    return buf;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* flor_arg, but a malformed --kwargs value ends the program. */
static long arg_long(const char *name, long dflt)
{
    long v;
    if (flor_arg_long(name, dflt, &v) == FLOR_EINVAL) {
        fprintf(stderr, "linear: %s\n", flor_errmsg());
        exit(2);
    }
    return v;
}

static double arg_double(const char *name, double dflt)
{
    double v;
    if (flor_arg_double(name, dflt, &v) == FLOR_EINVAL) {
        fprintf(stderr, "linear: %s\n", flor_errmsg());
        exit(2);
    }
    return v;
}

/* Ends the program when a hyperparameter is out of range. */
static void check(int ok, const char *name, long value, const char *expected)
{
    if (!ok) {
        fprintf(stderr, "linear: --kwargs %s=%ld: expected %s\n", name, value, expected);
        exit(2);
    }
}

int main(int argc, char **argv)
{
    int rc = flor_init(&argc, &argv);
    if (rc == FLOR_EINVAL) { /* a malformed --kwargs: a usage error */
        fprintf(stderr, "linear: %s\n", flor_errmsg());
        return 2;
    }
    if (rc != 0 && flor_get_mode() == FLOR_MODE_REPLAY) { /* nothing to replay: no point training */
        fprintf(stderr, "linear: %s\n", flor_errmsg());
        return 1;
    }
    if (rc != 0)
        fprintf(stderr, "linear: warning: flor is not recording (%s); training anyway\n",
                flor_errmsg());
    if (argc > 1) {
        fprintf(stderr, "usage: %s [--kwargs NAME=VALUE ...]\n"
                        "  NAME: hidden epochs batch_size lr seed print_every ntrain ntest\n",
                argv[0]);
        return strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ? 0 : 2;
    }

    long hidden = arg_long("hidden", 500);
    long epochs = arg_long("epochs", 5);
    long batch_size = arg_long("batch_size", 32);
    double lr = arg_double("lr", 1e-3);
    long seed = arg_long("seed", 78);
    long print_every = arg_long("print_every", 500);
    long ntrain = arg_long("ntrain", 0);
    long ntest = arg_long("ntest", 0);
    check(hidden > 0 && hidden <= 1L << 20, "hidden", hidden, "an integer in 1..1048576");
    check(epochs >= 0 && epochs <= 1L << 30, "epochs", epochs, "an integer >= 0");
    check(batch_size > 0 && batch_size <= 1L << 16, "batch_size", batch_size,
          "an integer in 1..65536");
    check(print_every > 0, "print_every", print_every, "an integer > 0");
    check(ntrain >= 0 && ntrain <= 1L << 30, "ntrain", ntrain,
          "an integer >= 0 (0: the whole training set)");
    check(ntest >= 0 && ntest <= 1L << 30, "ntest", ntest,
          "an integer >= 0 (0: the whole test set)");
    if (!(lr > 0 && isfinite(lr))) {
        char num[32];
        fprintf(stderr, "linear: --kwargs lr=%s: expected a positive number\n",
                fmt_real(num, sizeof num, lr));
        return 2;
    }

    const char *dir = getenv("FLOR_DATA");
    if (!dir || !*dir)
        dir = DEFAULT_DATA;
    dataset train = load(dir, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "ntrain",
                         ntrain);
    dataset test = load(dir, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "ntest",
                        ntest);
    if (train.n == 0)
        die("the training set is empty");

    const int H = (int)hidden;
    const int B = batch_size < train.n ? (int)batch_size : train.n;
    const long nbatches = (train.n + B - 1) / B; /* the last batch may be short */
    struct state st;
    flush_denormals();
    init_state(&st, H, seed, train.n);
    scratch s = scratch_new(H, B, st.nparams);

    /* The training state, registered for checkpoints: at the end of each
     * epoch flor may save it, and a replay restores it instead of running
     * the step loop.  Restoring these six at an epoch's end and going on
     * reproduces the rest of training bit for bit. */
    size_t pbytes = st.nparams * sizeof(float);
    if (flor_checkpoint_typed("params", st.params, pbytes, FLOR_F32, 1) != 0 ||
        flor_checkpoint_typed("adam_m", st.m, pbytes, FLOR_F32, 1) != 0 ||
        flor_checkpoint_typed("adam_v", st.v, pbytes, FLOR_F32, 1) != 0 ||
        flor_checkpoint_typed("adam_t", &st.t, sizeof st.t, FLOR_I64, 1) != 0 ||
        flor_checkpoint_typed("rng", &st.rng, sizeof st.rng, FLOR_BYTES, 1) != 0 ||
        flor_checkpoint_typed("order", st.order, (size_t)train.n * sizeof *st.order, FLOR_I32,
                              1) != 0)
        fprintf(stderr, "linear: warning: no checkpoints: %s\n", flor_errmsg());
    printf("linear: %d training and %d test images, 784-%d-10 MLP (%zu parameters), "
           "%ld epoch%s of %ld steps\n",
           train.n, test.n, H, st.nparams, epochs, epochs == 1 ? "" : "s", nbatches);
    fflush(stdout);

    char num[32];
    double acc;
    FLOR_LOOP(epoch, "epoch", epochs) {
        double t0 = now();
        shuffle(st.order, train.n, &st.rng);
        FLOR_LOOP(step, "step", nbatches) {
            int start = (int)(step * B);
            int bsz = train.n - start < B ? train.n - start : B;
            gather(&train, st.order + start, bsz, s.x, s.y);
            double loss = train_step(&st, &s, bsz, lr);
            if (step % print_every == 0) {
                flor_log("loss", loss);
                printf("epoch %ld step %ld loss %s\n", epoch, step, fmt_real(num, sizeof num, loss));
            }
        }
        double t1 = now();
        acc = evaluate(&s, st.params, &test);
        flor_log("acc", acc);
        printf("epoch %ld acc %s (train %.2f s, eval %.2f s)\n", epoch,
               fmt_real(num, sizeof num, acc), t1 - t0, now() - t1);
        fflush(stdout);
    }
    acc = evaluate(&s, st.params, &test);
    flor_log("acc", acc);
    printf("final acc %s\n", fmt_real(num, sizeof num, acc));

    free(st.params), free(st.m), free(st.v), free(st.order);
    free(s.x), free(s.y), free(s.h), free(s.dh), free(s.z), free(s.dz), free(s.grads);
    free(s.nzi), free(s.nzx), free(s.nnz);
    free(train.pixels), free(train.labels), free(test.pixels), free(test.labels);
    if (flor_finish() != 0) {
        fprintf(stderr, "linear: %s\n", flor_errmsg());
        return 1;
    }
    return 0;
}
