/* Unit tests for watch.c: what a change is (edits of Markdown files under
 * content/, named as a load names them; anything else unknown), what is
 * not one (editors' side files), and the stop descriptor. Events are made
 * before watch_next is called: inotify queues them. */
#include "watch.h"
#include "util.h"
#include "test.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char top[] = "/tmp/gz-watchtest-XXXXXX";
static char *content, *templates;

/* Written in place, as most editors save. */
static void put(const char *dir, const char *name, const char *text)
{
    char *p = path_join(dir, name);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    free(p);
}

/* A stop descriptor that becomes readable after ms milliseconds. */
typedef struct { int fd; int ms; } later;
static void *write_later(void *ud)
{
    later *l = ud;
    usleep((useconds_t)l->ms * 1000);
    if (write(l->fd, "x", 1) != 1) return NULL;
    return NULL;
}

TEST(an_edit_names_the_document)
{
    watch *w = watch_new(content, templates);
    CHECK(w != NULL);
    if (!w) return;
    put(content, "notices/2017/a.md", "---\ntitle: a\n---\nedited\n");
    CHECK(watch_next(w, -1) == 1);
    size_t n = 0;
    const char *const *e = watch_edited(w, &n);
    CHECK(e != NULL && n == 1);
    char *want = path_join(content, "notices/2017/a.md");
    if (e && n == 1) CHECK_STR(e[0], want);
    free(want);
    /* two saves of one file and one of another: each named once */
    put(content, "notices/2017/a.md", "---\ntitle: a\n---\nagain\n");
    put(content, "notices/2017/a.md", "---\ntitle: a\n---\nand again\n");
    put(content, "notices/2017/b.md", "---\ntitle: b\n---\n");
    CHECK(watch_next(w, -1) == 1);
    e = watch_edited(w, &n);
    CHECK(e != NULL && n == 2);
    watch_free(w);
}

TEST(anything_else_is_unknown)
{
    watch *w = watch_new(content, templates);
    if (!w) { CHECK(w != NULL); return; }
    size_t n = 7;
    put(templates, "doc.mustache", "{{title}}");
    CHECK(watch_next(w, -1) == 1);
    CHECK(watch_edited(w, &n) == NULL && n == 0);
    put(content, "site.yaml", "title: t\n");
    CHECK(watch_next(w, -1) == 1);
    CHECK(watch_edited(w, &n) == NULL);
    /* a new directory is unknown, and is watched from then on */
    char *d = path_join(content, "notices/2030");
    CHECK(mkdir(d, 0755) == 0);
    CHECK(watch_next(w, -1) == 1);
    CHECK(watch_edited(w, &n) == NULL);
    put(d, "c.md", "---\ntitle: c\n---\n");
    CHECK(watch_next(w, -1) == 1);
    const char *const *e = watch_edited(w, &n);
    CHECK(e != NULL && n == 1);
    free(d);
    watch_free(w);
}

TEST(side_files_are_no_change_and_stop_ends_the_wait)
{
    watch *w = watch_new(content, templates);
    if (!w) { CHECK(w != NULL); return; }
    put(content, "notices/2017/.a.md.swp", "x");
    put(content, "notices/2017/a.md~", "x");
    put(content, "notices/2017/#a.md#", "x");
    int p[2];
    CHECK(pipe(p) == 0);
    later l = {p[1], 400};
    pthread_t t;
    pthread_create(&t, NULL, write_later, &l);
    CHECK(watch_next(w, p[0]) == 0);        /* the side files did not end it */
    pthread_join(t, NULL);
    /* a stop during the quiet period ends it too, with no change */
    put(content, "notices/2017/a.md", "---\ntitle: a\n---\nlast\n");
    CHECK(watch_next(w, p[0]) == 0);
    close(p[0]);
    close(p[1]);
    watch_free(w);
}

TEST(no_templates_dir_is_fine)
{
    char *none = path_join(top, "no-such-templates");
    watch *w = watch_new(content, none);
    CHECK(w != NULL);
    put(content, "notices/2017/a.md", "---\ntitle: a\n---\nx\n");
    CHECK(watch_next(w, -1) == 1);
    watch_free(w);
    free(none);
}

int main(void)
{
    if (!mkdtemp(top)) return 1;
    content = path_join(top, "content");
    templates = path_join(top, "templates");
    char *d = path_join(content, "notices/2017");
    if (mkdir_p(d) < 0 || mkdir_p(templates) < 0) return 1;
    free(d);
    RUN(an_edit_names_the_document);
    RUN(anything_else_is_unknown);
    RUN(side_files_are_no_change_and_stop_ends_the_wait);
    RUN(no_templates_dir_is_fine);
    rm_rf(top);
    free(content);
    free(templates);
    return test_summary();
}
