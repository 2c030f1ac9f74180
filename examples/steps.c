/*
 * steps.c -- a trainer in the shape most plain-C training programs have,
 * recorded by flor: ONE flat loop over optimizer steps, a validation pass
 * every `eval_every` steps inside it, and optimizer state that does not
 * exist until the first step allocates it.
 *
 * The model is a 784-hidden-10 perceptron with a ReLU, learning the ten
 * classes of Fashion-MNIST, trained with AdamW (beta1 0.9, beta2 0.999,
 * eps 1e-8, weight decay 0.01) on minibatches drawn from a shuffled order
 * of the training images; when the order runs out it is shuffled again,
 * as a data loader does.  AdamW's two moment buffers are allocated inside
 * the first step, the way optimizers allocate them on first use.
 *
 * flor's part is short and follows the program's own structure: the
 * hyperparameters are flor_arg()s, the state (parameters, the loader's
 * order and cursor, the RNG, and the moments once they exist) is
 * registered for checkpoints, the step loop is a FLOR_LOOP, and the loss,
 * the validation metrics and the final accuracy are flor_log()s.  The
 * adaptive policy picks which steps get a checkpoint (or `every` fixes a
 * cadence), so a replay restores the nearest one and runs only the steps
 * a new statement needs.
 *
 * It prints every value it logs as `flor dataframe` shows it (the shortest
 * decimal that reads back as the same double), so the two compare as text:
 *
 *     step 0 loss 2.3396353363990784
 *     step 499 val_loss 0.52... val_acc 0.81...
 *     final_acc 0.85...
 *
 * Try
 *
 *     steps                                   # defaults below, ~10 s
 *     steps --kwargs steps=500 hidden=64      # overridden
 *     flor dataframe val_loss val_acc
 *
 * Hyperparameters (--kwargs NAME=VALUE): steps 5000, batch 32, hidden 256,
 * eval_every 500, lr 1e-3, every 0 (0: the adaptive policy chooses the
 * checkpointed steps; N: every N-th step), ntrain 0 (all 60000 training
 * images, or the first N), ntest 0 (all 10000 test images, or the first N).
 *
 * The data: the four gzip'd IDX files of the Debian package
 * dataset-fashion-mnist in /usr/share/datasets/fashion-mnist, or in the
 * directory $FLOR_DATA names.
 *
 * Determinism: one seeded generator (xorshift64*) draws the initial weights
 * and every shuffle, the arithmetic is single-threaded and always summed
 * in the same order, with no -ffast-math; so the same arguments give the
 * same values, bit for bit, and restoring the registered state at a step
 * and going on gives what the uninterrupted run gave.
 *
 * Data parallel: built with -DUSE_MPI (`make` builds build/examples/steps-mpi
 * where mpicc is installed), `mpirun -np N steps-mpi` trains one model on
 * N processes: each takes its share (batch / N) of every minibatch, and
 * the gradients and the loss are averaged with MPI_Allreduce before each
 * update, so the parameters stay the same on every rank.  flor records
 * the N processes as one run with N ranks.
 *
 * Build: `make` builds build/examples/steps, in essence
 * `cc -std=c11 -O3 -fno-math-errno steps.c -lflor -lz -lm`.
 */
#define _POSIX_C_SOURCE 200809L
#include <flor.h>
#ifdef USE_MPI
#include <mpi.h>
#endif

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#define IMAGE 784 /* 28 x 28 pixels */
#define CLASSES 10
#define WEIGHT_DECAY 0.01f
#define SEED 20240613u

static void fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void fail(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("steps: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(status);
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        fail(1, "out of memory (%zu x %zu bytes)", n, size);
    return p;
}

/* ------------------------------------------------------------------------
 * The data.  Each file is decompressed whole into memory; its IDX header
 * (a magic 0x0000080N for N dimensions, then N big-endian sizes) is
 * checked, and the items are moved to the front of the buffer.
 * ------------------------------------------------------------------------ */

typedef struct {
    long n;                /* examples */
    unsigned char *pixels; /* n x IMAGE, 0..255 */
    unsigned char *labels; /* n, 0..9 */
} split;

static uint32_t big_endian(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* The items of DIR/FILE, an IDX file of NDIMS dimensions whose items are
 * ITEM bytes each, keeping the first LIMIT (0: all); *N gets their count. */
static unsigned char *read_items(const char *dir, const char *file, int ndims, size_t item,
                                 const char *arg, long limit, long *n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        fail(1, "cannot open %s: %s%s", path, strerror(errno),
             errno == ENOENT ? " (install the Debian package dataset-fashion-mnist, or set "
                               "FLOR_DATA to a directory holding its four *-ubyte.gz files)"
                             : "");
    size_t cap = 1 << 20, len = 0;
    unsigned char *buf = xcalloc(cap, 1);
    for (;;) {
        if (len == cap) {
            unsigned char *bigger = realloc(buf, cap *= 2);
            if (!bigger)
                fail(1, "out of memory reading %s", path);
            buf = bigger;
        }
        size_t room = cap - len < (1u << 30) ? cap - len : (1u << 30);
        int got = gzread(gz, buf + len, (unsigned)room);
        if (got < 0)
            fail(1, "%s: not a readable gzip file", path);
        if (got == 0)
            break;
        len += (size_t)got;
    }
    gzclose(gz);
    size_t header = 4 * (size_t)(ndims + 1);
    if (len < header || big_endian(buf) != (0x800u | (uint32_t)ndims))
        fail(1, "%s: expected an IDX file of %d dimension(s)", path, ndims);
    if (ndims == 3 && (big_endian(buf + 8) != 28 || big_endian(buf + 12) != 28))
        fail(1, "%s: expected 28x28 images", path);
    long have = (long)big_endian(buf + 4);
    if ((size_t)have > (len - header) / item)
        fail(1, "%s: expected %ld items, the file is truncated", path, have);
    if (limit > have)
        fail(2, "--kwargs %s=%ld: expected at most %ld, the examples %s holds", arg, limit, have,
             path);
    *n = limit > 0 ? limit : have;
    memmove(buf, buf + header, (size_t)*n * item);
    return buf;
}

static split read_split(const char *dir, const char *images, const char *labels,
                        const char *arg, long limit)
{
    split s;
    long nlabels;
    s.pixels = read_items(dir, images, 3, IMAGE, arg, limit, &s.n);
    s.labels = read_items(dir, labels, 1, 1, arg, limit, &nlabels);
    if (nlabels != s.n)
        fail(1, "%s/%s: expected %ld labels, found %ld", dir, labels, s.n, nlabels);
    for (long i = 0; i < s.n; i++)
        if (s.labels[i] >= CLASSES)
            fail(1, "%s/%s: label %d of example %ld: expected 0..9", dir, labels, s.labels[i], i);
    return s;
}

/* ------------------------------------------------------------------------
 * Random numbers: xorshift64*, whose state is one nonzero uint64_t.
 * ------------------------------------------------------------------------ */

static uint64_t draw(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 0x2545f4914f6cdd1du;
}

/* In [-a, a), from 24 random bits. */
static float draw_uniform(uint64_t *state, float a)
{
    return ((float)(draw(state) >> 40) * 0x1p-23f - 1.0f) * a;
}

static void shuffle(int *order, long n, uint64_t *state)
{
    for (long i = n - 1; i > 0; i--) {
        long j = (long)(draw(state) % (uint64_t)(i + 1)); /* bias below 2^-40: harmless here */
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

/* ------------------------------------------------------------------------
 * The model.  params is one array [W1 | b1 | W2 | b2], W1 IMAGE x H and W2
 * H x CLASSES, row-major; gradients and moments have the same layout.
 * ------------------------------------------------------------------------ */

typedef struct {
    int H, B;       /* hidden width, largest batch */
    size_t nparams; /* floats in params */
    float *x;       /* B x IMAGE inputs in [0, 1] */
    int *y;         /* B labels */
    float *h, *dh;  /* B x H hidden activations (after the ReLU), their gradient */
    float *z, *dz;  /* B x CLASSES logits, their gradient */
    float *grad;    /* nparams */
} net;

static float *W1(float *p, const net *n) { return (void)n, p; }
static float *b1(float *p, const net *n) { return p + (size_t)IMAGE * (size_t)n->H; }
static float *W2(float *p, const net *n) { return b1(p, n) + n->H; }
static float *b2(float *p, const net *n) { return W2(p, n) + (size_t)n->H * CLASSES; }

static net net_new(int H, int B)
{
    net n = {.H = H, .B = B};
    n.nparams = (size_t)IMAGE * (size_t)H + (size_t)H + (size_t)H * CLASSES + CLASSES;
    n.x = xcalloc((size_t)B * IMAGE, sizeof *n.x);
    n.y = xcalloc((size_t)B, sizeof *n.y);
    n.h = xcalloc((size_t)B * (size_t)H, sizeof *n.h);
    n.dh = xcalloc((size_t)B * (size_t)H, sizeof *n.dh);
    n.z = xcalloc((size_t)B * CLASSES, sizeof *n.z);
    n.dz = xcalloc((size_t)B * CLASSES, sizeof *n.dz);
    n.grad = xcalloc(n.nparams, sizeof *n.grad);
    return n;
}

static void net_free(net *n)
{
    free(n->x), free(n->y), free(n->h), free(n->dh), free(n->z), free(n->dz), free(n->grad);
}

/* out (B x N) = bias + in (B x K) W (K x N), skipping the zero inputs
 * (background pixels, inactive units).  Each output sums its terms in
 * order of k, whatever the vector width. */
static void dense(float *restrict out, const float *restrict in, const float *restrict W,
                  const float *restrict bias, int B, int K, int N)
{
    for (int r = 0; r < B; r++) {
        float *restrict o = out + (size_t)r * (size_t)N;
        memcpy(o, bias, (size_t)N * sizeof *o);
        for (int k = 0; k < K; k++) {
            float a = in[(size_t)r * (size_t)K + (size_t)k];
            if (a == 0.0f)
                continue;
            const float *restrict w = W + (size_t)k * (size_t)N;
            for (int j = 0; j < N; j++)
                o[j] += a * w[j];
        }
    }
}

/* dW (K x N) = in^T dout and dbias = the column sums of dout. */
static void dense_grad(float *restrict dW, float *restrict dbias, const float *restrict in,
                       const float *restrict dout, int B, int K, int N)
{
    memset(dW, 0, (size_t)K * (size_t)N * sizeof *dW);
    memset(dbias, 0, (size_t)N * sizeof *dbias);
    for (int r = 0; r < B; r++) {
        const float *restrict d = dout + (size_t)r * (size_t)N;
        for (int k = 0; k < K; k++) {
            float a = in[(size_t)r * (size_t)K + (size_t)k];
            if (a == 0.0f)
                continue;
            float *restrict w = dW + (size_t)k * (size_t)N;
            for (int j = 0; j < N; j++)
                w[j] += a * d[j];
        }
        for (int j = 0; j < N; j++)
            dbias[j] += d[j];
    }
}

/* Loads examples idx[0..B) of S into the net's input. */
static void load_batch(net *n, const split *s, const int *idx, int B)
{
    for (int r = 0; r < B; r++) {
        const unsigned char *p = s->pixels + (size_t)idx[r] * IMAGE;
        for (int k = 0; k < IMAGE; k++)
            n->x[(size_t)r * IMAGE + (size_t)k] = (float)p[k] * (1.0f / 255.0f);
        n->y[r] = s->labels[idx[r]];
    }
}

/* The forward pass on B loaded examples: returns the summed cross-entropy
 * and adds the number classified right to *correct; fills dz with the
 * gradient of the mean loss when TRAIN. */
static double forward(net *n, float *params, int B, int train, long *correct)
{
    dense(n->h, n->x, W1(params, n), b1(params, n), B, IMAGE, n->H);
    for (size_t i = 0; i < (size_t)B * (size_t)n->H; i++)
        n->h[i] = n->h[i] > 0.0f ? n->h[i] : 0.0f;
    dense(n->z, n->h, W2(params, n), b2(params, n), B, n->H, CLASSES);
    double loss = 0.0;
    for (int r = 0; r < B; r++) {
        const float *z = n->z + (size_t)r * CLASSES;
        int best = 0;
        for (int c = 1; c < CLASSES; c++)
            best = z[c] > z[best] ? c : best;
        *correct += best == n->y[r];
        double e[CLASSES], sum = 0.0;
        for (int c = 0; c < CLASSES; c++)
            sum += e[c] = exp((double)z[c] - (double)z[best]);
        loss += log(sum) - ((double)z[n->y[r]] - (double)z[best]);
        if (train)
            for (int c = 0; c < CLASSES; c++)
                n->dz[(size_t)r * CLASSES + (size_t)c] =
                    (float)((e[c] / sum - (c == n->y[r] ? 1.0 : 0.0)) / B);
    }
    return loss;
}

/* The gradient of the mean loss of the last forward(.., train = 1). */
static void backward(net *n, float *params, int B)
{
    const int H = n->H;
    dense_grad(W2(n->grad, n), b2(n->grad, n), n->h, n->dz, B, H, CLASSES);
    const float *w2 = W2(params, n);
    for (int r = 0; r < B; r++)
        for (int j = 0; j < H; j++) {
            float acc = 0.0f;
            if (n->h[(size_t)r * (size_t)H + (size_t)j] > 0.0f)
                for (int c = 0; c < CLASSES; c++)
                    acc += n->dz[(size_t)r * CLASSES + (size_t)c] * w2[(size_t)j * CLASSES + (size_t)c];
            n->dh[(size_t)r * (size_t)H + (size_t)j] = acc;
        }
    dense_grad(W1(n->grad, n), b1(n->grad, n), n->x, n->dh, B, IMAGE, H);
}

/* AdamW's update number T (1-based), with bias correction and decoupled
 * weight decay. */
static void adamw(float *restrict p, const float *restrict g, float *restrict m,
                  float *restrict v, size_t n, long t, float lr)
{
    const float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
    const float c1 = 1.0f - powf(beta1, (float)t), c2 = 1.0f - powf(beta2, (float)t);
    for (size_t i = 0; i < n; i++) {
        m[i] = beta1 * m[i] + (1.0f - beta1) * g[i];
        v[i] = beta2 * v[i] + (1.0f - beta2) * g[i] * g[i];
        p[i] -= lr * ((m[i] / c1) / (sqrtf(v[i] / c2) + eps) + WEIGHT_DECAY * p[i]);
    }
}

/* Mean loss and accuracy over all of S, B examples at a time. */
static void evaluate(net *n, float *params, const split *s, double *loss, double *acc)
{
    int idx[1024];
    long correct = 0;
    double sum = 0.0;
    int chunk = n->B < 1024 ? n->B : 1024;
    for (long start = 0; start < s->n; start += chunk) {
        int B = s->n - start < chunk ? (int)(s->n - start) : chunk;
        for (int r = 0; r < B; r++)
            idx[r] = (int)(start + r);
        load_batch(n, s, idx, B);
        sum += forward(n, params, B, 0, &correct);
    }
    *loss = s->n ? sum / (double)s->n : 0.0;
    *acc = s->n ? (double)correct / (double)s->n : 0.0;
}

/* X as the shortest of %.15g, %.16g and %.17g that reads back as X, the
 * way `flor dataframe` shows reals, so the two compare as text. */
static const char *real(char buf[32], double x)
{
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, 32, "%.*g", digits, x);
        if (strtod(buf, NULL) == x)
            break;
    }
    if (buf[strspn(buf, "-0123456789")] == '\0')
        strcat(buf, ".0");
    return buf;
}

/* Ends the program unless LO <= V <= HI. */
static long in_range(const char *name, long v, long lo, long hi)
{
    if (v < lo || v > hi)
        fail(2, "--kwargs %s=%ld: expected an integer in %ld..%ld", name, v, lo, hi);
    return v;
}

int main(int argc, char **argv)
{
    int rank = 0, world = 1;
#ifdef USE_MPI
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
#endif
    int rc = flor_init(&argc, &argv);
    if (rc == FLOR_EINVAL || (rc != 0 && flor_get_mode() == FLOR_MODE_REPLAY))
        fail(rc == FLOR_EINVAL ? 2 : 1, "%s", flor_errmsg());
    if (rc != 0)
        fprintf(stderr, "steps: warning: not recorded (%s); training anyway\n", flor_errmsg());
    if (argc > 1)
        fail(2, "unexpected '%s': usage: steps [--kwargs NAME=VALUE ...], NAME one of steps "
                "batch hidden eval_every lr every ntrain ntest",
             argv[1]);

    long steps = in_range("steps", flor_arg("steps", 5000L), 0, 1L << 40);
    int B = (int)in_range("batch", flor_arg("batch", 32L), 1, 1024);
    int H = (int)in_range("hidden", flor_arg("hidden", 256L), 1, 1L << 16);
    long eval_every = in_range("eval_every", flor_arg("eval_every", 500L), 1, 1L << 40);
    float lr = (float)flor_arg("lr", 1e-3);
    long every = in_range("every", flor_arg("every", 0L), 0, 1L << 40);
    long ntrain = in_range("ntrain", flor_arg("ntrain", 0L), 0, 1L << 30);
    long ntest = in_range("ntest", flor_arg("ntest", 0L), 0, 1L << 30);
    if (!(lr > 0.0f && isfinite(lr)))
        fail(2, "--kwargs lr=%g: expected a positive number", (double)lr);
    if (every > 0 && flor_checkpoint_every(NULL, every, 0) != 0)
        fprintf(stderr, "steps: warning: %s\n", flor_errmsg());

    const char *dir = getenv("FLOR_DATA") && *getenv("FLOR_DATA")
                          ? getenv("FLOR_DATA")
                          : "/usr/share/datasets/fashion-mnist";
    split train = read_split(dir, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                             "ntrain", ntrain);
    split test = read_split(dir, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
                            "ntest", ntest);
    if (B > train.n)
        fail(2, "--kwargs batch=%d: expected at most the %ld training images", B, train.n);
    if (B % world != 0)
        fail(2, "--kwargs batch=%d: expected a multiple of the %d processes", B, world);
    const int b = B / world; /* this rank's share of each minibatch */
#if defined(__SSE__)
    _mm_setcsr(_mm_getcsr() | 0x8040); /* subnormals flushed to zero: fast, and deterministic */
#endif

    /* The state one step hands to the next: the parameters, the loader
     * (order and cursor), the generator; AdamW's moments come later. */
    net n = net_new(H, B);
    float *params = xcalloc(n.nparams, sizeof *params), *m = NULL, *v = NULL;
    int *order = xcalloc((size_t)train.n, sizeof *order);
    long cursor = 0;
    uint64_t rng = SEED;
    for (size_t i = 0; i < (size_t)IMAGE * (size_t)H; i++)
        W1(params, &n)[i] = draw_uniform(&rng, sqrtf(6.0f / IMAGE));
    for (size_t i = 0; i < (size_t)H * CLASSES; i++)
        W2(params, &n)[i] = draw_uniform(&rng, sqrtf(6.0f / (float)(H + CLASSES)));
    for (long i = 0; i < train.n; i++)
        order[i] = (int)i;
    shuffle(order, train.n, &rng);
    flor_checkpoint_typed("params", params, n.nparams * sizeof *params, FLOR_F32, 1);
    flor_checkpoint_typed("order", order, (size_t)train.n * sizeof *order, FLOR_I32, 1);
    flor_checkpoint_typed("cursor", &cursor, sizeof cursor, FLOR_I64, 1);
    flor_checkpoint_typed("rng", &rng, sizeof rng, FLOR_BYTES, 1);

    if (rank == 0)
        printf("steps: %ld training and %ld test images, 784-%d-10 (%zu parameters), %ld steps "
               "of %d\n",
               train.n, test.n, H, n.nparams, steps, B);
    char num[32];
    FLOR_LOOP(step, "step", steps) {
        if (cursor + B > train.n) { /* the order is used up: a new pass */
            shuffle(order, train.n, &rng);
            cursor = 0;
        }
        load_batch(&n, &train, order + cursor + (long)rank * b, b);
        cursor += B;
        long correct = 0;
        double loss = forward(&n, params, b, 1, &correct) / b;
        backward(&n, params, b);
#ifdef USE_MPI
        if (world > 1) { /* the mean over the ranks' shares: the minibatch's */
            MPI_Allreduce(MPI_IN_PLACE, n.grad, (int)n.nparams, MPI_FLOAT, MPI_SUM,
                          MPI_COMM_WORLD);
            MPI_Allreduce(MPI_IN_PLACE, &loss, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
            for (size_t i = 0; i < n.nparams; i++)
                n.grad[i] /= (float)world;
            loss /= world;
        }
#endif
        if (!m) { /* AdamW's moments, on first use */
            m = xcalloc(n.nparams, sizeof *m);
            v = xcalloc(n.nparams, sizeof *v);
            flor_checkpoint_typed("adam_m", m, n.nparams * sizeof *m, FLOR_F32, 1);
            flor_checkpoint_typed("adam_v", v, n.nparams * sizeof *v, FLOR_F32, 1);
        }
        adamw(params, n.grad, m, v, n.nparams, step + 1, lr);
        flor_log("loss", loss);
        if (rank == 0)
            printf("step %ld loss %s\n", step, real(num, loss));
        if (step % eval_every == eval_every - 1) {
            double val_loss, val_acc;
            evaluate(&n, params, &test, &val_loss, &val_acc);
            flor_log("val_loss", val_loss);
            flor_log("val_acc", val_acc);
            if (rank == 0) {
                printf("step %ld val_loss %s", step, real(num, val_loss));
                printf(" val_acc %s\n", real(num, val_acc));
                fflush(stdout);
            }
        }
    }
    double final_loss, final_acc;
    evaluate(&n, params, &test, &final_loss, &final_acc);
    flor_log("final_acc", final_acc);
    if (rank == 0)
        printf("final_acc %s\n", real(num, final_acc));

    free(params), free(m), free(v), free(order);
    free(train.pixels), free(train.labels), free(test.pixels), free(test.labels);
    net_free(&n);
    if (flor_finish() != 0)
        fail(1, "%s", flor_errmsg());
#ifdef USE_MPI
    MPI_Finalize();
#endif
    return 0;
}
