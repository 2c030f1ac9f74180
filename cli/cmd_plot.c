/*
 * cmd_plot.c -- `flor plot NAME... -o FILE.svg|png`: the curves flor serve
 * draws, as a file.  One panel per name, one line per run; values computed
 * by a replay dashed, divergences marked with a red ring.  The SVG is
 * written by hand; the PNG is drawn here and encoded by libpng.  Each
 * panel states its scales (data-* attributes in the SVG, a tEXt chunk
 * "flor-plot" in the PNG), so that a program can read the values back.
 */
#include "buf.h"
#include "cli.h"
#include "series.h"

#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: flor plot NAME... [--where COND] [--runs LIST] [--size WxH] -o FILE\n"
    "\n"
    "Draws the values of each NAME logged inside loops against their loop\n"
    "position (the n-th value of the name in the run), one panel per name and\n"
    "one line per run, into FILE: SVG when it ends in .svg, PNG when it ends in\n"
    "'.png'.  Values computed by a replay (hindsight logging) are dashed;\n"
    "positions where a replay diverged from the record have a red ring.\n"
    "\n"
    "options:\n"
    "  -o FILE       the file to write (.svg or .png)\n"
    "  --where COND  only the runs for which COND, an SQL condition on the\n"
    "                columns of the runs table, holds (status = 'finished')\n"
    "  --runs LIST   only these runs, ids separated by commas\n"
    "  --size WxH    the size of one panel in pixels (default 800x400)\n"
    "\n"
    "examples:\n"
    "  flor plot loss -o loss.svg\n"
    "  flor plot loss acc --where \"status = 'finished'\" -o curves.png\n";

typedef struct plot_opts {
    const char *out, *where, *runs;
    int width, height;
    char **names;
    int nnames;
} plot_opts;

/* Where a panel is and what it shows: x0..x1 and y0..y1 in data units
 * map onto the rectangle LEFT, TOP, W, H in pixels (y upwards). */
typedef struct panel {
    const char *name;
    double x0, x1, y0, y1;
    int left, top, w, h;
} panel;

#define MARGIN_L 70
#define MARGIN_R 20
#define MARGIN_T 30
#define MARGIN_B 40

/* The colour of run R is palette[(R - 1) % NCOLORS], in every panel (and
 * on flor serve's page, web/app.js). */
static const unsigned char palette[][3] = {
    {31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {148, 103, 189}, {140, 86, 75},
    {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207},
};
#define NCOLORS (sizeof palette / sizeof *palette)

static double px(const panel *p, double x)
{
    return p->left + (p->x1 > p->x0 ? (x - p->x0) / (p->x1 - p->x0) : 0.5) * p->w;
}

static double py(const panel *p, double y)
{
    return p->top + p->h - (p->y1 > p->y0 ? (y - p->y0) / (p->y1 - p->y0) : 0.5) * p->h;
}

static void set_scales(panel *p, const cli_series_set *set)
{
    double lo = INFINITY, hi = -INFINITY;
    size_t n = 0;
    for (size_t k = 0; k < set->count; k++) {
        const cli_series *s = &set->s[k];
        n = s->n > n ? s->n : n;
        for (size_t i = 0; i < s->n; i++)
            if (isfinite(s->y[i])) {
                lo = s->y[i] < lo ? s->y[i] : lo;
                hi = s->y[i] > hi ? s->y[i] : hi;
            }
    }
    if (!(lo <= hi))
        lo = 0, hi = 1;
    p->x0 = 0;
    p->x1 = n > 1 ? (double)(n - 1) : 1;
    p->y0 = lo;
    p->y1 = hi;
}

/* ---- SVG ------------------------------------------------------------------ */

/* S as XML text, escaped. */
static void xml_text(cli_buf *b, const char *s)
{
    for (; *s; s++) {
        const char *esc = *s == '<' ? "&lt;" : *s == '&' ? "&amp;" : *s == '"' ? "&quot;" : NULL;
        if (esc)
            cli_buf_puts(b, esc);
        else
            cli_buf_putc(b, *s);
    }
}

static void svg_axes(cli_buf *b, const panel *p)
{
    cli_buf_printf(b,
                   "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
                   "stroke=\"#888\"/>\n",
                   p->left, p->top, p->w, p->h);
    cli_buf_printf(b, "<text class=\"title\" x=\"%d\" y=\"%d\" font-size=\"14\">", p->left,
                   p->top - 10);
    xml_text(b, p->name);
    cli_buf_puts(b, "</text>\n");
    for (int i = 0; i <= 4; i++) {
        double y = p->y0 + (p->y1 - p->y0) * i / 4, x = p->x0 + (p->x1 - p->x0) * i / 4;
        char t[32];
        cli_buf_printf(b,
                       "<text class=\"ytick\" x=\"%d\" y=\"%.2f\" font-size=\"11\" "
                       "text-anchor=\"end\">%s</text>\n",
                       p->left - 4, py(p, y) + 4, cli_format_real(y, t));
        cli_buf_printf(b,
                       "<text class=\"xtick\" x=\"%.2f\" y=\"%d\" font-size=\"11\" "
                       "text-anchor=\"middle\">%.0f</text>\n",
                       px(p, x), p->top + p->h + 16, x);
    }
}

/* The points FIRST..LAST of S as one path; DASHED for replayed values. */
static void svg_path(cli_buf *b, const panel *p, const cli_series *s, size_t first,
                     size_t last, const unsigned char *rgb, bool dashed)
{
    cli_buf_printf(b,
                   "<path class=\"%s\" data-run=\"%lld\" fill=\"none\" "
                   "stroke=\"rgb(%d,%d,%d)\" stroke-width=\"1.5\"%s d=\"",
                   dashed ? "series replay" : "series", (long long)s->run, rgb[0], rgb[1], rgb[2],
                   dashed ? " stroke-dasharray=\"6 3\"" : "");
    bool pen = false;
    for (size_t i = first; i <= last; i++) {
        if (!isfinite(s->y[i])) {
            pen = false;
            continue;
        }
        cli_buf_printf(b, "%s%.3f %.3f", pen ? " L" : " M", px(p, (double)i), py(p, s->y[i]));
        pen = true;
    }
    cli_buf_puts(b, "\"/>\n");
}

static void svg_panel(cli_buf *b, const panel *p, const cli_series_set *set)
{
    cli_buf_puts(b, "<g class=\"panel\" data-name=");
    cli_buf_putc(b, '"');
    xml_text(b, p->name);
    cli_buf_printf(b,
                   "\" data-x0=\"%.17g\" data-x1=\"%.17g\" data-y0=\"%.17g\" data-y1=\"%.17g\" "
                   "data-left=\"%d\" data-top=\"%d\" data-width=\"%d\" data-height=\"%d\">\n",
                   p->x0, p->x1, p->y0, p->y1, p->left, p->top, p->w, p->h);
    svg_axes(b, p);
    for (size_t k = 0; k < set->count; k++) {
        const cli_series *s = &set->s[k];
        const unsigned char *rgb = palette[(s->run - 1) % NCOLORS];
        /* runs of points from the same source; a dashed run starts at the
         * point before it, so that the line stays joined */
        for (size_t i = 0; i < s->n;) {
            size_t j = i;
            while (j + 1 < s->n && s->replay[j + 1] == s->replay[i])
                j++;
            svg_path(b, p, s, i && s->replay[i] ? i - 1 : i, j, rgb, s->replay[i]);
            i = j + 1;
        }
        for (size_t d = 0; d < s->ndiv; d++) {
            size_t i = s->div[d];
            cli_buf_printf(b,
                           "<circle class=\"divergence\" data-run=\"%lld\" cx=\"%.3f\" "
                           "cy=\"%.3f\" r=\"5\" fill=\"none\" stroke=\"red\" "
                           "stroke-width=\"2\"/>\n",
                           (long long)s->run, px(p, (double)i),
                           py(p, isfinite(s->y[i]) ? s->y[i] : p->y0));
        }
    }
    cli_buf_puts(b, "</g>\n");
}

/* ---- PNG ------------------------------------------------------------------ */

typedef struct raster {
    int w, h;
    unsigned char *rgb;
} raster;

static void dot(raster *r, int x, int y, const unsigned char *c)
{
    if (x < 0 || y < 0 || x >= r->w || y >= r->h)
        return;
    memcpy(r->rgb + ((size_t)y * r->w + x) * 3, c, 3);
}

/* A line from (X0, Y0) to (X1, Y1); DASHED: 6 pixels on, 3 off. */
static void line(raster *r, double x0, double y0, double x1, double y1, const unsigned char *c,
                 bool dashed)
{
    double dx = x1 - x0, dy = y1 - y0;
    int steps = (int)ceil(fmax(fabs(dx), fabs(dy)));
    for (int i = 0; i <= steps; i++) {
        if (dashed && i % 9 >= 6)
            continue;
        double t = steps ? (double)i / steps : 0;
        dot(r, (int)lround(x0 + dx * t), (int)lround(y0 + dy * t), c);
    }
}

static void png_panel(raster *r, const panel *p, const cli_series_set *set)
{
    static const unsigned char grey[3] = {136, 136, 136}, red[3] = {255, 0, 0};
    line(r, p->left, p->top, p->left + p->w, p->top, grey, false);
    line(r, p->left, p->top + p->h, p->left + p->w, p->top + p->h, grey, false);
    line(r, p->left, p->top, p->left, p->top + p->h, grey, false);
    line(r, p->left + p->w, p->top, p->left + p->w, p->top + p->h, grey, false);
    for (size_t k = 0; k < set->count; k++) {
        const cli_series *s = &set->s[k];
        const unsigned char *rgb = palette[(s->run - 1) % NCOLORS];
        for (size_t i = 0; i < s->n; i++) {
            if (!isfinite(s->y[i]))
                continue;
            if (i + 1 < s->n && isfinite(s->y[i + 1]))
                line(r, px(p, (double)i), py(p, s->y[i]), px(p, (double)i + 1),
                     py(p, s->y[i + 1]), rgb, s->replay[i + 1]);
            else
                dot(r, (int)lround(px(p, (double)i)), (int)lround(py(p, s->y[i])), rgb);
        }
        for (size_t d = 0; d < s->ndiv; d++) {
            double cx = px(p, (double)s->div[d]);
            double cy = py(p, isfinite(s->y[s->div[d]]) ? s->y[s->div[d]] : p->y0);
            for (int a = 0; a < 64; a++)
                dot(r, (int)lround(cx + 5 * cos(a * M_PI / 32)),
                    (int)lround(cy + 5 * sin(a * M_PI / 32)), red);
        }
    }
}

static int write_png(const char *file, const raster *r, const char *scales)
{
    FILE *f = fopen(file, "wb");
    if (!f)
        return cli_error("cannot write '%s': %s", file, strerror(errno));
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return cli_error("cannot write '%s': libpng failed", file);
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)r->w, (png_uint_32)r->h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_text text = {.compression = PNG_TEXT_COMPRESSION_NONE,
                     .key = (char *)"flor-plot",
                     .text = (char *)scales};
    png_set_text(png, info, &text, 1);
    png_write_info(png, info);
    for (int y = 0; y < r->h; y++)
        png_write_row(png, r->rgb + (size_t)y * r->w * 3);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    if (fclose(f) != 0)
        return cli_error("cannot write '%s': %s", file, strerror(errno));
    return CLI_OK;
}

/* ---- the command ---------------------------------------------------------- */

static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), m = strlen(tail);
    return n >= m && strcasecmp(s + n - m, tail) == 0;
}

static int parse_runs(const char *text, int64_t **runs, size_t *n)
{
    *n = 0;
    *runs = malloc((strlen(text) / 2 + 1) * sizeof **runs);
    if (!*runs)
        return cli_error("out of memory");
    for (const char *s = text;;) {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (end == s || v <= 0 || errno || (*end && *end != ',')) {
            free(*runs);
            *runs = NULL;
            return cli_usage_error("plot", "--runs '%s': expected run ids separated by commas",
                                   text);
        }
        (*runs)[(*n)++] = v;
        if (!*end)
            return CLI_CONTINUE;
        s = end + 1;
    }
}

static int draw(flor_project *p, const plot_opts *o, const int64_t *runs, size_t nruns)
{
    bool svg = ends_with(o->out, ".svg");
    int W = MARGIN_L + o->width + MARGIN_R;
    int H = o->nnames * (MARGIN_T + o->height + MARGIN_B);
    cli_buf doc = {0}, scales = {0};
    raster r = {W, H, NULL};
    if (svg)
        cli_buf_printf(&doc,
                       "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                       "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n"
                       "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
                       W, H, W, H);
    else if (!(r.rgb = malloc((size_t)W * H * 3)))
        return cli_error("out of memory");
    else
        memset(r.rgb, 255, (size_t)W * H * 3);
    int rc = CLI_OK;
    for (int k = 0; k < o->nnames && rc == CLI_OK; k++) {
        cli_series_set set;
        if (cli_series_read(p, o->names[k], runs, nruns, o->where, &set) != 0) {
            rc = cli_error("%s", flor_errmsg());
            break;
        }
        if (set.count == 0)
            rc = cli_error("no run logged '%s' inside a loop%s", o->names[k],
                           nruns || o->where ? " (among the runs asked for)" : "");
        panel pn = {o->names[k], 0, 0, 0, 0, MARGIN_L, k * (MARGIN_T + o->height + MARGIN_B) + MARGIN_T,
                    o->width, o->height};
        set_scales(&pn, &set);
        if (rc == CLI_OK && svg) {
            svg_panel(&doc, &pn, &set);
        } else if (rc == CLI_OK) {
            png_panel(&r, &pn, &set);
            cli_buf_printf(&scales, "%s%.17g %.17g %.17g %.17g %d %d %d %d ", k ? "\n" : "",
                           pn.x0, pn.x1, pn.y0, pn.y1, pn.left, pn.top, pn.w, pn.h);
            cli_buf_puts(&scales, o->names[k]);
        }
        cli_series_release(&set);
    }
    if (rc == CLI_OK && svg) {
        cli_buf_puts(&doc, "</svg>\n");
        size_t len;
        char *text = cli_buf_take(&doc, &len);
        FILE *f = text ? fopen(o->out, "w") : NULL;
        if (!text)
            rc = cli_error("out of memory");
        else if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0)
            rc = cli_error("cannot write '%s': %s", o->out, strerror(errno));
        free(text);
    } else if (rc == CLI_OK) {
        char *text = cli_buf_take(&scales, NULL);
        rc = text ? write_png(o->out, &r, text) : cli_error("out of memory");
        free(text);
    }
    cli_buf_release(&doc);
    cli_buf_release(&scales);
    free(r.rgb);
    return rc;
}

static int parse(int argc, char **argv, plot_opts *o)
{
    int kept = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(help, stdout);
            return CLI_OK;
        }
        const char **slot = strcmp(a, "-o") == 0        ? &o->out
                            : strcmp(a, "--where") == 0 ? &o->where
                            : strcmp(a, "--runs") == 0  ? &o->runs
                                                        : NULL;
        bool size = strcmp(a, "--size") == 0;
        if (!slot && !size && a[0] == '-' && a[1])
            return cli_usage_error("plot", "unknown option '%s'", a);
        if (!slot && !size) {
            o->names[kept++] = argv[i];
            continue;
        }
        if (i + 1 >= argc)
            return cli_usage_error("plot", "%s needs a value", a);
        if (slot) {
            *slot = argv[++i];
            continue;
        }
        char *end;
        const char *v = argv[++i];
        o->width = (int)strtol(v, &end, 10);
        o->height = *end == 'x' ? (int)strtol(end + 1, &end, 10) : 0;
        if (*end || o->width < 100 || o->height < 50 || o->width > 10000 || o->height > 10000)
            return cli_usage_error("plot", "--size '%s': expected WIDTHxHEIGHT, from 100x50 "
                                   "to 10000x10000", v);
    }
    o->nnames = kept;
    if (!kept)
        return cli_usage_error("plot", "missing the NAME of a logged value");
    if (!o->out)
        return cli_usage_error("plot", "missing -o FILE (.svg or .png)");
    if (!ends_with(o->out, ".svg") && !ends_with(o->out, ".png"))
        return cli_usage_error("plot", "-o '%s': expected a file name ending in .svg or .png",
                               o->out);
    if (o->where && flor_sql_condition_check(o->where) != 0)
        return cli_usage_error("plot", "--where: %s", flor_errmsg());
    return CLI_CONTINUE;
}

static int run(int argc, char **argv, const cli_opts *opts)
{
    (void)opts;
    plot_opts o = {.width = 800, .height = 400};
    o.names = calloc((size_t)argc, sizeof *o.names);
    if (!o.names)
        return cli_error("out of memory");
    int64_t *runs = NULL;
    size_t nruns = 0;
    int rc = parse(argc, argv, &o);
    if (rc == CLI_CONTINUE && o.runs)
        rc = parse_runs(o.runs, &runs, &nruns);
    flor_project *p = NULL;
    if (rc == CLI_CONTINUE)
        rc = cli_open(&p);
    if (rc == CLI_CONTINUE)
        rc = draw(p, &o, runs, nruns);
    flor_project_free(p);
    free(runs);
    free(o.names);
    return rc;
}

const cli_command cli_cmd_plot = {
    "plot", run, "plot NAME... -o FILE  the curves of logged values as SVG or PNG", help,
};
