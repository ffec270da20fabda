/* mustache_spec.c - run the Mustache spec (JSON files) against mustache.c.
 *
 *   mustache_spec SPEC_DIR
 *
 * Loads every .json file in SPEC_DIR, converts each test's data to a value tree,
 * registers its partials, renders its template and compares with the
 * expected output. Prints "PASS file:name" or "FAIL file:name: got ... want
 * ..." per test, then "mustache spec: N/TOTAL passed". Exit status 1 if any
 * test fails. Lambdas are not implemented (no ~lambdas.json is expected).
 */
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "mustache.h"
#include "util.h"
#include "value.h"

static value *from_json(json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        value *m = value_map();
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) value_set(m, k, from_json(v));
        return m;
    }
    case JSON_ARRAY: {
        value *l = value_list();
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) value_push(l, from_json(v));
        return l;
    }
    case JSON_STRING: return value_strn(json_string_value(j), json_string_length(j));
    case JSON_INTEGER: return value_int(json_integer_value(j));
    case JSON_REAL: return value_double(json_real_value(j));
    case JSON_TRUE: return value_bool(true);
    case JSON_FALSE: return value_bool(false);
    default: return value_null();
    }
}

/* Every value in v marked stable (value_set_stable): the memo may then
 * remember any list item of the data. */
static void stable_all(value *v)
{
    value_set_stable(v);
    if (value_type(v) == V_LIST)
        for (size_t i = 0; i < value_len(v); i++) stable_all(value_at(v, i));
    else if (value_type(v) == V_MAP)
        for (size_t i = 0; i < value_len(v); i++) stable_all(value_val_at(v, i));
}

static size_t memo_items, memo_hits;

/* Show s with C escapes, so whitespace differences are visible. */
static void show(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') fputs("\\n", f);
        else if (c == '\r') fputs("\\r", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\x%02x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

/* Run one test; returns 1 if it passed. */
static int run_test(const char *file, json_t *test)
{
    const char *name = json_string_value(json_object_get(test, "name"));
    json_t *tpl = json_object_get(test, "template");
    json_t *exp = json_object_get(test, "expected");
    if (!name || !json_is_string(tpl) || !json_is_string(exp)) {
        printf("FAIL %s:%s: malformed test\n", file, name ? name : "?");
        return 0;
    }
    diag *d = diag_new();
    mustache_set *s = mustache_set_new(NULL, NULL);
    json_t *partials = json_object_get(test, "partials");
    const char *pk;
    json_t *pv;
    json_object_foreach(partials, pk, pv)
        mustache_add(s, pk, json_string_value(pv), json_string_length(pv), pk, d);
    /* A name no partial uses. */
    const char *main_name = "\x01spec-template";
    mustache_add(s, main_name, json_string_value(tpl), json_string_length(tpl), "template", d);
    value *data = from_json(json_object_get(test, "data"));
    buf out = BUF_INIT;
    const mustache_tpl *t = mustache_get(s, main_name, d);
    int rc = t ? mustache_render(s, t, data, &out, d) : -1;
    const char *want = json_string_value(exp);
    size_t wlen = json_string_length(exp);
    int ok = rc == 0 && diag_total(d) == 0 && out.len == wlen &&
             memcmp(buf_cstr(&out), want, wlen) == 0;
    /* Again with the data stable and a memo of list items, twice (the
     * second render answered from what the first remembered): the same
     * output. */
    if (ok && t) {
        value *sdata = from_json(json_object_get(test, "data"));
        stable_all(sdata);
        mustache_memo *m = mustache_memo_new(0);
        for (int k = 0; k < 2 && ok; k++) {
            buf_clear(&out);
            rc = mustache_render_memo(s, t, sdata, &out, d, m);
            ok = rc == 0 && diag_total(d) == 0 && out.len == wlen &&
                 memcmp(buf_cstr(&out), want, wlen) == 0;
            if (!ok) printf("(with a memo, render %d) ", k + 1);
        }
        size_t items, hits;
        mustache_memo_counts(m, &items, &hits);
        memo_items += items;
        memo_hits += hits;
        mustache_memo_free(m);
        value_unref(sdata);
    }
    if (ok) {
        printf("PASS %s:%s\n", file, name);
    } else {
        printf("FAIL %s:%s: got ", file, name);
        show(stdout, buf_cstr(&out), out.len);
        printf(" want ");
        show(stdout, want, wlen);
        diag_sort(d);
        for (size_t i = 0; i < diag_total(d); i++) printf(" [%s]", diag_message(d, i));
        printf("\n");
    }
    buf_free(&out);
    value_unref(data);
    mustache_set_free(s);
    diag_free(d);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s SPEC_DIR\n", argv[0]);
        return 2;
    }
    DIR *dir = opendir(argv[1]);
    if (!dir) {
        perror(argv[1]);
        return 2;
    }
    char **files = NULL;
    size_t nfiles = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        if (!str_ends(e->d_name, ".json") || strstr(e->d_name, "lambdas")) continue;
        files = xrealloc(files, (nfiles + 1) * sizeof *files);
        files[nfiles++] = xstrdup(e->d_name);
    }
    closedir(dir);
    qsort(files, nfiles, sizeof *files, str_cmp_ptr);
    int total = 0, passed = 0, bad = 0;
    for (size_t i = 0; i < nfiles; i++) {
        char *path = path_join(argv[1], files[i]);
        json_error_t err;
        json_t *root = json_load_file(path, 0, &err);
        json_t *tests = json_object_get(root, "tests");
        if (!json_is_array(tests)) {
            printf("FAIL %s: cannot load: %s\n", files[i], root ? "no tests" : err.text);
            bad = 1;
        }
        size_t k;
        json_t *test;
        json_array_foreach(tests, k, test) {
            total++;
            passed += run_test(files[i], test);
        }
        json_decref(root);
        free(path);
        free(files[i]);
    }
    free(files);
    printf("mustache spec: memo: %zu list items remembered, %zu renders from them\n", memo_items, memo_hits);
    printf("mustache spec: %d/%d passed\n", passed, total);
    return passed == total && !bad && total > 0 ? 0 : 1;
}
