/*
 * diff.c -- reading code versions as text: the unified diff of two
 * (flor__git_diff), the lines the working tree or a later version adds
 * (flor__git_added_lines, for hindsight logging), one file of a version
 * (flor__git_file) and git's three-way merge of a file (flor__git_merge3).
 */
#include "git/repo.h"

#include <stdlib.h>
#include <string.h>

static int print_line(const git_diff_delta *d, const git_diff_hunk *h, const git_diff_line *l,
                      void *payload)
{
    (void)d;
    (void)h;
    flor__buf *b = payload;
    if (l->origin == GIT_DIFF_LINE_CONTEXT || l->origin == GIT_DIFF_LINE_ADDITION ||
        l->origin == GIT_DIFF_LINE_DELETION) {
        char c = l->origin;
        if (flor__buf_add(b, &c, 1))
            return -1;
    }
    return flor__buf_add(b, l->content, l->content_len) ? -1 : 0;
}

int flor__git_diff(const char *root, const char *vid1, const char *vid2, flor__buf *out)
{
    git_repository *repo;
    git_tree *t1, *t2;
    git_diff *diff = NULL;
    int rc = flor__git_open_trees(root, vid1, vid2, &repo, &t1, &t2);
    if (!rc && (git_diff_tree_to_tree(&diff, repo, t1, t2, NULL) < 0 ||
                git_diff_find_similar(diff, NULL) < 0))
        rc = flor__git_fail("cannot compare the code versions");
    if (!rc && git_diff_print(diff, GIT_DIFF_FORMAT_PATCH, print_line, out) < 0)
        rc = git_error_last() ? flor__git_fail("cannot print the diff")
                              : flor__err(FLOR_ENOMEM, "out of memory");
    git_diff_free(diff);
    git_tree_free(t1);
    git_tree_free(t2);
    git_repository_free(repo);
    return rc;
}

/* ---- what a resume asks of git ---------------------------------------------- */

int flor__git_source_like(const char *path)
{
    static const char *const names[] = {
        "Makefile", "makefile", "GNUmakefile", "CMakeLists.txt", "meson.build", "SConstruct",
        "BUILD", "BUILD.bazel", "WORKSPACE", "Dockerfile", "setup.py", "setup.cfg",
        "pyproject.toml", "requirements.txt", "Cargo.toml", "go.mod",
    };
    static const char *const exts[] = {
        "c", "h", "cc", "cpp", "cxx", "c++", "hh", "hpp", "hxx", "h++", "inl", "ipp",
        "tcc", "cu", "cuh", "m", "mm", "s", "S", "asm", "f", "f90", "f95", "for", "py",
        "pyx", "pxd", "pyi", "rs", "go", "java", "kt", "scala", "jl", "r", "R", "lua",
        "pl", "rb", "js", "ts", "sh", "bash", "zsh", "mk", "cmake", "mak", "ld", "cl",
        "metal", "swift", "zig", "nim", "hs", "ml", "sql",
    };
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(base, names[i]) == 0)
            return 1;
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base)
        return 0;
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (strcmp(dot + 1, exts[i]) == 0)
            return 1;
    return 0;
}

int flor__git_code_changes(const char *root, const char *vid1, const char *vid2, int *count,
                           char **first)
{
    *count = 0;
    *first = NULL;
    git_repository *repo;
    git_tree *t1, *t2;
    git_diff *diff = NULL;
    git_index *idx = NULL;
    int rc = flor__git_open_trees(root, vid1, vid2, &repo, &t1, &t2);
    if (!rc && git_diff_tree_to_tree(&diff, repo, t1, t2, NULL) < 0)
        rc = flor__git_fail("cannot compare the code versions");
    if (!rc && git_repository_index(&idx, repo) < 0)
        rc = flor__git_fail("cannot read the repository's index");
    size_t n = rc ? 0 : git_diff_num_deltas(diff);
    for (size_t i = 0; i < n && !rc; i++) {
        const git_diff_delta *d = git_diff_get_delta(diff, i);
        const char *path = d->status == GIT_DELTA_DELETED ? d->old_file.path : d->new_file.path;
        int tracked = git_index_get_bypath(idx, d->old_file.path, 0) ||
                      git_index_get_bypath(idx, d->new_file.path, 0);
        if (!tracked && !flor__git_source_like(path))
            continue; /* the program's own output, or other data */
        if (!*first && !(*first = flor__strdup(path)))
            rc = flor__err(FLOR_ENOMEM, "out of memory");
        (*count)++;
    }
    git_index_free(idx);
    git_diff_free(diff);
    git_tree_free(t1);
    git_tree_free(t2);
    git_repository_free(repo);
    return rc;
}

/* ---- what hindsight logging asks of git -------------------------------------- */

typedef struct added_walk {
    flor__git_added_fn fn;
    void *ctx;
    int rc;
} added_walk;

static int on_added(const git_diff_delta *d, const git_diff_hunk *h, const git_diff_line *l,
                    void *payload)
{
    added_walk *w = payload;
    if (!h || l->origin != GIT_DIFF_LINE_ADDITION)
        return 0;
    /* With no context lines, a hunk that only adds comes after old line
     * old_start; one that also removes lines comes after them. */
    int anchor = h->old_lines == 0 ? h->old_start : h->old_start + h->old_lines - 1;
    w->rc = w->fn(w->ctx, d->new_file.path, l->new_lineno, anchor, h->old_lines > 0, l->content,
                  l->content_len);
    return w->rc ? -1 : 0;
}

int flor__git_added_lines(const char *root, const char *vid, const char *vid2,
                          flor__git_added_fn fn, void *ctx)
{
    git_repository *repo;
    git_tree *tree, *tree2;
    git_diff *diff = NULL;
    int rc = flor__git_open_trees(root, vid, vid2, &repo, &tree, &tree2);
    git_diff_options o;
    git_diff_options_init(&o, GIT_DIFF_OPTIONS_VERSION);
    o.context_lines = 0;
    o.flags = GIT_DIFF_INCLUDE_UNTRACKED | GIT_DIFF_RECURSE_UNTRACKED_DIRS |
              GIT_DIFF_SHOW_UNTRACKED_CONTENT;
    if (!rc && (vid2 ? git_diff_tree_to_tree(&diff, repo, tree, tree2, &o)
                     : git_diff_tree_to_workdir(&diff, repo, tree, &o)) < 0)
        rc = flor__git_fail("cannot compare the working tree with the recorded code");
    added_walk w = {fn, ctx, 0};
    if (!rc && git_diff_foreach(diff, NULL, NULL, NULL, on_added, &w) < 0)
        rc = w.rc ? w.rc : flor__git_fail("cannot compare the working tree with the recorded code");
    git_error_clear();
    git_diff_free(diff);
    git_tree_free(tree);
    git_tree_free(tree2);
    git_repository_free(repo);
    return rc;
}

int flor__git_file(const char *root, const char *vid, const char *path, flor__buf *out,
                   unsigned *mode)
{
    git_repository *repo;
    git_tree *tree;
    git_tree_entry *e = NULL;
    git_blob *blob = NULL;
    int rc = flor__git_open_trees(root, vid, NULL, &repo, &tree, NULL);
    if (!rc) {
        int g = git_tree_entry_bypath(&e, tree, path);
        if (g == GIT_ENOTFOUND || (!g && git_tree_entry_type(e) != GIT_OBJECT_BLOB)) {
            git_error_clear();
            rc = flor__err(FLOR_ENOTFOUND, "%s is not in code version %.12s", path, vid);
        } else if (g < 0) {
            rc = flor__git_fail(path);
        }
    }
    if (!rc && git_blob_lookup(&blob, repo, git_tree_entry_id(e)) < 0)
        rc = flor__git_fail(path);
    if (!rc) {
        *mode = git_tree_entry_filemode(e);
        out->len = 0;
        size_t n = (size_t)git_blob_rawsize(blob);
        rc = flor__buf_add(out, n ? git_blob_rawcontent(blob) : "", n);
    }
    git_blob_free(blob);
    git_tree_entry_free(e);
    git_tree_free(tree);
    git_repository_free(repo);
    return rc;
}

int flor__git_merge3(const char *path, const flor__buf *base, const flor__buf *ours,
                     const flor__buf *theirs, flor__buf *out, int *clean)
{
    flor__git_init();
    git_merge_file_input in[3];
    const flor__buf *side[3] = {base, ours, theirs};
    for (int i = 0; i < 3; i++) {
        git_merge_file_input_init(&in[i], GIT_MERGE_FILE_INPUT_VERSION);
        in[i].ptr = side[i]->p ? side[i]->p : "";
        in[i].size = side[i]->len;
        in[i].path = path;
        in[i].mode = GIT_FILEMODE_BLOB;
    }
    git_merge_file_result r = {0};
    if (git_merge_file(&r, &in[0], &in[1], &in[2], NULL) < 0)
        return flor__git_fail(path);
    *clean = (int)r.automergeable;
    out->len = 0;
    int rc = flor__buf_add(out, r.ptr ? r.ptr : "", r.len);
    git_merge_file_result_free(&r);
    return rc;
}
