/* stats.c - load, validate and model the stats snapshot (see stats.h).
 *
 * Everything is read into plain C arrays once; the database is closed
 * before stats_load returns. Page contexts and data files are then built
 * from those arrays. One file, so that the model stays private.
 * Sections: model, diagnostics, opening (work limit, dump loading),
 * validation/loading, reconciliation, page model, data files, writing. */
#include "stats.h"
#include "chart.h"
#include "csv.h"
#include "money.h"
#include "sha256.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------- model */

typedef struct {
    char *id, *name, *parent;   /* parent NULL for a top-level body */
    long long sort;
    int depth;                  /* 0 for top level */
    size_t parent_i, top_i;     /* indexes; parent_i == SIZE_MAX at top */
    size_t order;               /* position in the tree's pre-order */
} district;

typedef struct {
    size_t d;                   /* district index */
    char *period, *source;
    long long enterprises, amount;
} tally;

typedef struct {
    size_t d;                   /* scope district */
    char *period, *source;
    bool has_ent, has_amt;
    long long ent, amt;
    int nchildren;              /* children with a tally in the period */
    long long sum_ent, sum_amt;
    bool ent_mismatch, amt_mismatch;
} reported;

typedef struct {
    long long id;
    char *name;
    size_t d;
} enterprise;

typedef struct {
    size_t e;                   /* enterprise index */
    char *period, *status;
    long long amount;
} eref;

typedef struct {
    size_t d;
    char *period;
    long long v[4];             /* enterprises_25plus, unions_built, members, federations */
    bool has[4];
} ubuild;

typedef struct {
    size_t d;
    char *period, *title, *figure, *source;
} achievement;

#define VEC(T) struct { T *a; size_t n, cap; }
#define VPUSH(v) (((v).n == (v).cap ? ((v).cap = (v).cap ? 2 * (v).cap : 16, \
                  (v).a = xrealloc((v).a, (v).cap * sizeof *(v).a)) : 0), \
                  memset(&(v).a[(v).n], 0, sizeof *(v).a), &(v).a[(v).n++])

/* Which dump line produced which rowids of a table (only for .sql). */
typedef struct {
    char *table;
    long long lo, hi;
    int line;
} rowline;

struct stats {
    char *path;                 /* as shown in diagnostics */
    char sha[65];
    char *taken_at, *meta_source;
    VEC(district) dist;
    VEC(tally) tal;
    VEC(reported) rep;
    VEC(enterprise) ent;
    VEC(eref) er;
    VEC(ubuild) ub;
    VEC(achievement) ach;
    size_t nmismatch;
};

/* Load-time state, discarded when stats_load returns. */
typedef struct {
    sqlite3 *db;
    stats *s;
    diag *d;
    int nerr;
    VEC(rowline) lines;
    long long work, budget;     /* VM instructions used / allowed, see work_limit */
    const char *insert_table;   /* set by the authorizer while preparing */
    char insert_table_buf[128];
} loader;

static char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? xstrdup((const char *)t) : NULL;
}

static const char *nz(const char *s) { return s ? s : ""; }

/* -------------------------------------------------------- diagnostics */

static int row_line(loader *L, const char *table, long long rowid)
{
    for (size_t i = 0; i < L->lines.n; i++) {
        rowline *r = &L->lines.a[i];
        if (rowid >= r->lo && rowid <= r->hi && strcasecmp(r->table, table) == 0) return r->line;
    }
    return 0;
}

/* "table T, row (KEY): message" at the row's dump line when known. */
static void row_error(loader *L, const char *table, long long rowid, const char *key,
                      const char *fmt, ...) GZ_PRINTF(5, 6);
static void row_error(loader *L, const char *table, long long rowid, const char *key,
                      const char *fmt, ...)
{
    buf m = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&m, fmt, ap);
    va_end(ap);
    diag_error(L->d, L->s->path, row_line(L, table, rowid), "table %s, row (%s): %s",
               table, key, buf_cstr(&m));
    buf_free(&m);
    L->nerr++;
}

static void db_error(loader *L, const char *what)
{
    diag_error(L->d, L->s->path, 0, "%s: %s", what, sqlite3_errmsg(L->db));
    L->nerr++;
}

/* Work limit. A dump is SQL, and SQL can loop forever (a recursive CTE)
 * or blow up; a .sqlite file can hide costly generated columns. Loading
 * is bounded by a budget of SQLite VM instructions proportional to the
 * snapshot's size, counted by the progress handler, which SQLite calls
 * every WORK_STEP instructions of one statement: the many short INSERTs
 * of a dump never reach it, while the validation queries over a 14 MB
 * dump of 100k enterprises use about 4.5M (budget there: 300M). */
enum { WORK_STEP = 1000 };
#define WORK_BASE   20000000LL     /* fixed allowance: ~0.1 s */
#define WORK_PER_BYTE 20LL

static int work_check(void *ud)
{
    loader *L = ud;
    L->work += WORK_STEP;
    return L->work > L->budget;    /* non-zero interrupts the statement */
}

static void work_limit(loader *L, size_t bytes)
{
    L->work = 0;
    L->budget = WORK_BASE + WORK_PER_BYTE * (long long)bytes;
    sqlite3_progress_handler(L->db, WORK_STEP, work_check, L);
    /* no single value larger than 16 MB: a snapshot holds short texts */
    sqlite3_limit(L->db, SQLITE_LIMIT_LENGTH, 16 * 1024 * 1024);
}

static bool over_budget(loader *L, int line)
{
    if (L->work <= L->budget) return false;
    diag_error(L->d, L->s->path, line, "the snapshot takes too much work to load (more than %lld SQLite "
               "instructions; a runaway query such as a recursive CTE?)", L->budget);
    L->nerr++;
    return true;
}

/* -------------------------------------------------------- opening */

/* Percent-encode the bytes that mean something in a file: URI. */
static char *file_uri(const char *path)
{
    buf b = BUF_INIT;
    buf_puts(&b, "file:");
    for (const char *p = path; *p; p++) {
        if (*p == '%' || *p == '?' || *p == '#') buf_printf(&b, "%%%02X", (unsigned char)*p);
        else buf_putc(&b, *p);
    }
    buf_puts(&b, "?mode=ro&immutable=1");
    return buf_detach(&b);
}

static int open_sqlite(loader *L, const char *path, size_t size)
{
    char *uri = file_uri(path);
    int rc = sqlite3_open_v2(uri, &L->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
    free(uri);
    if (rc != SQLITE_OK) { db_error(L, "cannot open snapshot"); return -1; }
    sqlite3_db_config(L->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    work_limit(L, size);
    /* The file is opened lazily: quick_check reads every page, so a
     * truncated or foreign file fails here with a clear message. */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(L->db, "PRAGMA quick_check", -1, &st, NULL) != SQLITE_OK) {
        db_error(L, "not a readable SQLite database");
        return -1;
    }
    int ok = 1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *r = (const char *)sqlite3_column_text(st, 0);
        if (r && strcmp(r, "ok") != 0) {
            diag_error(L->d, L->s->path, 0, "corrupt SQLite database: %s", r);
            L->nerr++;
            ok = 0;
            break;
        }
    }
    if (ok && rc != SQLITE_DONE && over_budget(L, 0)) ok = 0;
    if (ok && rc != SQLITE_DONE) { db_error(L, "not a readable SQLite database"); ok = 0; }
    sqlite3_finalize(st);
    return ok ? 0 : -1;
}

/* The dump is trusted no further than SQL that builds tables: anything
 * that could touch other files (ATTACH, VACUUM INTO) or change engine
 * settings is refused. The authorizer also notes the INSERT target so
 * rows can be traced back to their line. */
static int dump_auth(void *ud, int action, const char *a1, const char *a2,
                     const char *a3, const char *a4)
{
    loader *L = ud;
    (void)a2; (void)a3; (void)a4;
    switch (action) {
    case SQLITE_ATTACH:
    case SQLITE_DETACH:
        return SQLITE_DENY;
    case SQLITE_PRAGMA:
        return a1 && strcasecmp(a1, "foreign_keys") == 0 ? SQLITE_OK : SQLITE_DENY;
    case SQLITE_INSERT:
        if (!L->insert_table && a1) {
            snprintf(L->insert_table_buf, sizeof L->insert_table_buf, "%s", a1);
            L->insert_table = L->insert_table_buf;
        }
        return SQLITE_OK;
    default:
        return SQLITE_OK;
    }
}

/* Skip blanks and SQL comments; returns the start of the next token. */
static const char *skip_space(const char *p)
{
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f') p++;
        if (p[0] == '-' && p[1] == '-') { while (*p && *p != '\n') p++; continue; }
        if (p[0] == '/' && p[1] == '*') {
            const char *e = strstr(p + 2, "*/");
            p = e ? e + 2 : p + strlen(p);
            continue;
        }
        return p;
    }
}

static int load_dump(loader *L, const char *text, size_t len)
{
    if (strlen(text) != len) {
        diag_error(L->d, L->s->path, line_of_offset(text, strlen(text)), "NUL byte in SQL dump");
        L->nerr++;
        return -1;
    }
    size_t bad;
    if (!utf8_valid(text, len, &bad)) {
        diag_error(L->d, L->s->path, line_of_offset(text, bad), "invalid UTF-8");
        L->nerr++;
        return -1;
    }
    if (sqlite3_open_v2(":memory:", &L->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        db_error(L, "cannot create in-memory database");
        return -1;
    }
    sqlite3_db_config(L->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_limit(L->db, SQLITE_LIMIT_ATTACHED, 0);
    sqlite3_set_authorizer(L->db, dump_auth, L);
    work_limit(L, len);
    const char *p = text, *counted = text;
    int line = 1;
    for (;;) {
        p = skip_space(p);
        if (!*p) break;
        /* count lines incrementally: line_of_offset per statement would
         * make a large dump quadratic */
        for (; counted < p; counted++)
            if (*counted == '\n') line++;
        if (strncasecmp(p, "VACUUM", 6) == 0) {
            diag_error(L->d, L->s->path, line, "VACUUM is not allowed in a snapshot dump");
            L->nerr++;
            return -1;
        }
        sqlite3_stmt *st = NULL;
        const char *tail = NULL;
        L->insert_table = NULL;
        if (sqlite3_prepare_v2(L->db, p, -1, &st, &tail) != SQLITE_OK) {
            /* Point at the error itself when SQLite knows where it is. */
            int off = sqlite3_error_offset(L->db);
            for (const char *e = p; off > 0 && *e && e < p + off; e++)
                if (*e == '\n') line++;
            diag_error(L->d, L->s->path, line, "SQL error: %s", sqlite3_errmsg(L->db));
            L->nerr++;
            return -1;
        }
        if (!st) { p = tail; continue; }     /* only a comment or ';' */
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {}
        if (rc != SQLITE_DONE && over_budget(L, line)) {
            sqlite3_finalize(st);
            return -1;
        }
        if (rc != SQLITE_DONE) {
            /* a constraint failure: name the table; the line names the row */
            if (L->insert_table)
                diag_error(L->d, L->s->path, line, "table %s: %s", L->insert_table, sqlite3_errmsg(L->db));
            else
                diag_error(L->d, L->s->path, line, "SQL error: %s", sqlite3_errmsg(L->db));
            L->nerr++;
            sqlite3_finalize(st);
            return -1;
        }
        int changes = sqlite3_changes(L->db);
        if (L->insert_table && changes > 0) {
            rowline *r = VPUSH(L->lines);
            r->table = xstrdup(L->insert_table);
            r->hi = sqlite3_last_insert_rowid(L->db);
            r->lo = r->hi - changes + 1;
            r->line = line;
        }
        sqlite3_finalize(st);
        p = tail;
    }
    sqlite3_set_authorizer(L->db, NULL, NULL);
    return 0;
}

/* -------------------------------------------------------- validation */

static const char *const TABLES[] = {
    "snapshot_meta", "districts", "refund_tallies", "reported_totals",
    "enterprises", "enterprise_refunds", "union_building", "achievements",
};

static int check_tables(loader *L)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(L->db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?1",
                           -1, &st, NULL) != SQLITE_OK) {
        db_error(L, "not a readable SQLite database");
        return -1;
    }
    int missing = 0;
    for (size_t i = 0; i < sizeof TABLES / sizeof *TABLES; i++) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, TABLES[i], -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) {
            diag_error(L->d, L->s->path, 0, "missing table %s (schema_version 1 needs it)", TABLES[i]);
            L->nerr++;
            missing++;
        } else if (rc != SQLITE_ROW) {
            db_error(L, "not a readable SQLite database");
            sqlite3_finalize(st);
            return -1;
        }
    }
    sqlite3_finalize(st);
    return missing ? -1 : 0;
}

static sqlite3_stmt *prep(loader *L, const char *table, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(L->db, sql, -1, &st, NULL) != SQLITE_OK) {
        diag_error(L->d, L->s->path, 0, "table %s: %s", table, sqlite3_errmsg(L->db));
        L->nerr++;
        return NULL;
    }
    return st;
}

static int finish(loader *L, sqlite3_stmt *st, int rc, const char *table)
{
    if (rc != SQLITE_DONE && over_budget(L, 0)) {
        sqlite3_finalize(st);
        return -1;
    }
    if (rc != SQLITE_DONE) {
        diag_error(L->d, L->s->path, 0, "table %s: %s", table, sqlite3_errmsg(L->db));
        L->nerr++;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int load_meta(loader *L)
{
    sqlite3_stmt *st = prep(L, "snapshot_meta", "SELECT key, value FROM snapshot_meta");
    if (!st) return -1;
    int rc;
    char *version = NULL;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        if (!k) continue;
        if (strcmp(k, "schema_version") == 0) { free(version); version = col_text(st, 1); }
        else if (strcmp(k, "taken_at") == 0) { free(L->s->taken_at); L->s->taken_at = col_text(st, 1); }
        else if (strcmp(k, "source") == 0) { free(L->s->meta_source); L->s->meta_source = col_text(st, 1); }
    }
    int r = finish(L, st, rc, "snapshot_meta");
    if (r == 0 && !version) {
        diag_error(L->d, L->s->path, 0, "table snapshot_meta: no schema_version (this generator reads version 1)");
        L->nerr++;
        r = -1;
    } else if (r == 0 && strcmp(version, "1") != 0) {
        diag_error(L->d, L->s->path, 0, "table snapshot_meta: schema_version is '%s', this generator reads version 1",
                   version);
        L->nerr++;
        r = -1;
    }
    free(version);
    return r;
}

static size_t find_district(const stats *s, const char *id)
{
    if (!id) return SIZE_MAX;
    /* Linear: a snapshot has tens of districts. */
    for (size_t i = 0; i < s->dist.n; i++)
        if (strcmp(s->dist.a[i].id, id) == 0) return i;
    return SIZE_MAX;
}

/* Integer column check: NULL allowed only when nullable; negative never. */
static bool int_col(loader *L, sqlite3_stmt *st, int i, const char *table, long long rowid,
                    const char *key, const char *col, bool nullable, long long *out, bool *has)
{
    int t = sqlite3_column_type(st, i);
    if (has) *has = false;
    if (t == SQLITE_NULL) {
        if (nullable) return true;
        row_error(L, table, rowid, key, "%s is missing", col);
        return false;
    }
    if (t != SQLITE_INTEGER) {
        row_error(L, table, rowid, key, "%s must be an integer, got '%s'", col,
                  nz((const char *)sqlite3_column_text(st, i)));
        return false;
    }
    long long v = sqlite3_column_int64(st, i);
    if (v < 0) {
        row_error(L, table, rowid, key, "negative %s %lld", col, v);
        return false;
    }
    *out = v;
    if (has) *has = true;
    return true;
}

/* A required text column; a NULL is reported. */
static bool text_col(loader *L, sqlite3_stmt *st, int i, const char *table, long long rowid,
                     const char *key, const char *col, char **out)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL) {
        row_error(L, table, rowid, key, "%s is missing", col);
        return false;
    }
    *out = col_text(st, i);
    return true;
}

/* Unknown ids were already reported by check_all_refs (one message per
 * row); here only a missing id needs saying. */
static bool district_ref(loader *L, const char *table, long long rowid, const char *key,
                         const char *id, size_t *out)
{
    *out = find_district(L->s, id);
    if (*out != SIZE_MAX) return true;
    if (!id) row_error(L, table, rowid, key, "district_id is missing");
    return false;
}

/* District ids become URL path segments: allow only a safe alphabet. */
static bool slug_ok(const char *id)
{
    if (!*id || strcmp(id, ".") == 0 || strcmp(id, "..") == 0) return false;
    for (const char *p = id; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

static int load_districts(loader *L)
{
    const char *T = "districts";
    sqlite3_stmt *st = prep(L, T, "SELECT rowid, id, name, parent, sort FROM districts ORDER BY sort, id");
    if (!st) return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        long long rowid = sqlite3_column_int64(st, 0);
        char *key = xasprintf("id=%s", nz((const char *)sqlite3_column_text(st, 1)));
        char *id = NULL, *name = NULL;
        long long sort = 0;
        bool ok = text_col(L, st, 1, T, rowid, key, "id", &id) &&
                  text_col(L, st, 2, T, rowid, key, "name", &name);
        if (ok && sqlite3_column_type(st, 4) != SQLITE_NULL) {
            if (sqlite3_column_type(st, 4) != SQLITE_INTEGER) {
                row_error(L, T, rowid, key, "sort must be an integer");
                ok = false;
            } else sort = sqlite3_column_int64(st, 4);
        }
        if (ok && !slug_ok(id)) {
            row_error(L, T, rowid, key, "district id '%s' is not a slug (letters, digits, '-', '_', '.')", id);
            ok = false;
        }
        if (ok && find_district(L->s, id) != SIZE_MAX) {
            row_error(L, T, rowid, key, "duplicate district id '%s'", id);
            ok = false;
        }
        if (ok) {
            district *d = VPUSH(L->s->dist);
            d->id = id; d->name = name; d->parent = col_text(st, 3); d->sort = sort;
            id = name = NULL;
        }
        free(id); free(name); free(key);
    }
    return finish(L, st, rc, T);
}

/* Parents: the explicit reference query, then indexes, depth and cycles. */
static int link_districts(loader *L)
{
    const char *T = "districts";
    sqlite3_stmt *st = prep(L, T,
        "SELECT c.rowid, c.id, c.parent FROM districts c WHERE c.parent IS NOT NULL AND "
        "NOT EXISTS (SELECT 1 FROM districts p WHERE p.id = c.parent) ORDER BY c.rowid");
    if (!st) return -1;
    int rc, bad = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char *key = xasprintf("id=%s", nz((const char *)sqlite3_column_text(st, 1)));
        row_error(L, T, sqlite3_column_int64(st, 0), key, "unknown parent district '%s'",
                  nz((const char *)sqlite3_column_text(st, 2)));
        free(key);
        bad++;
    }
    if (finish(L, st, rc, T) < 0 || bad) return -1;
    stats *s = L->s;
    for (size_t i = 0; i < s->dist.n; i++)
        s->dist.a[i].parent_i = s->dist.a[i].parent ? find_district(s, s->dist.a[i].parent) : SIZE_MAX;
    for (size_t i = 0; i < s->dist.n; i++) {
        size_t cur = i, steps = 0;
        while (s->dist.a[cur].parent_i != SIZE_MAX && steps <= s->dist.n) {
            cur = s->dist.a[cur].parent_i;
            steps++;
        }
        if (steps > s->dist.n) {
            diag_error(L->d, s->path, 0, "table districts, row (id=%s): parent chain loops", s->dist.a[i].id);
            L->nerr++;
            return -1;
        }
        s->dist.a[i].depth = (int)steps;
        s->dist.a[i].top_i = cur;
    }
    /* Pre-order: districts are sorted by (sort, id), so emitting children
     * in array order under each parent gives a stable tree order. */
    size_t next = 0;
    size_t *stack = xmalloc((s->dist.n + 1) * sizeof *stack);
    for (size_t t = 0; t < s->dist.n; t++) {
        if (s->dist.a[t].parent_i != SIZE_MAX) continue;
        size_t sp = 0;
        stack[sp++] = t;
        while (sp) {
            size_t cur = stack[--sp];
            s->dist.a[cur].order = next++;
            /* push children in reverse so the first sorts first */
            for (size_t c = s->dist.n; c-- > 0;)
                if (s->dist.a[c].parent_i == cur) stack[sp++] = c;
        }
    }
    free(stack);
    return 0;
}

/* Explicit reference checks: rows of `table` whose `col` names no row of
 * `ref_table`. Key columns describe the row in the message. */
static int check_refs(loader *L, const char *table, const char *keycols[], int nkeys,
                      const char *col, const char *ref_table, const char *ref_col, const char *what)
{
    buf sql = BUF_INIT;
    buf_puts(&sql, "SELECT t.rowid");
    for (int i = 0; i < nkeys; i++) buf_printf(&sql, ", t.%s", keycols[i]);
    buf_printf(&sql, ", t.%s FROM %s t WHERE t.%s IS NOT NULL AND NOT EXISTS "
                     "(SELECT 1 FROM %s r WHERE r.%s = t.%s) ORDER BY t.rowid",
               col, table, col, ref_table, ref_col, col);
    sqlite3_stmt *st = prep(L, table, buf_cstr(&sql));
    buf_free(&sql);
    if (!st) return -1;
    int rc, bad = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        buf key = BUF_INIT;
        for (int i = 0; i < nkeys; i++)
            buf_printf(&key, "%s%s=%s", i ? ", " : "", keycols[i],
                       nz((const char *)sqlite3_column_text(st, 1 + i)));
        row_error(L, table, sqlite3_column_int64(st, 0), buf_cstr(&key), "unknown %s '%s'", what,
                  nz((const char *)sqlite3_column_text(st, 1 + nkeys)));
        buf_free(&key);
        bad++;
    }
    if (finish(L, st, rc, table) < 0) return -1;
    return bad ? -1 : 0;
}

static int check_all_refs(loader *L)
{
    static const char *dp[] = {"district_id", "period"};
    static const char *sp[] = {"scope", "period"};
    static const char *ei[] = {"id"};
    static const char *ep[] = {"enterprise_id", "period"};
    static const char *ai[] = {"id"};
    int r = 0;
    r |= check_refs(L, "refund_tallies", dp, 2, "district_id", "districts", "id", "district");
    r |= check_refs(L, "reported_totals", sp, 2, "scope", "districts", "id", "district");
    r |= check_refs(L, "enterprises", ei, 1, "district_id", "districts", "id", "district");
    r |= check_refs(L, "enterprise_refunds", ep, 2, "enterprise_id", "enterprises", "id", "enterprise");
    r |= check_refs(L, "union_building", dp, 2, "district_id", "districts", "id", "district");
    r |= check_refs(L, "achievements", ai, 1, "district_id", "districts", "id", "district");
    return r ? -1 : 0;
}

static int load_tallies(loader *L)
{
    const char *T = "refund_tallies";
    sqlite3_stmt *st = prep(L, T, "SELECT rowid, district_id, period, enterprises, amount_fen, source "
                                  "FROM refund_tallies ORDER BY period, district_id");
    if (!st) return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        long long rowid = sqlite3_column_int64(st, 0);
        char *key = xasprintf("district_id=%s, period=%s", nz((const char *)sqlite3_column_text(st, 1)),
                              nz((const char *)sqlite3_column_text(st, 2)));
        tally t = {0};
        bool ok = district_ref(L, T, rowid, key, (const char *)sqlite3_column_text(st, 1), &t.d);
        ok = text_col(L, st, 2, T, rowid, key, "period", &t.period) && ok;
        ok = int_col(L, st, 3, T, rowid, key, "enterprises", false, &t.enterprises, NULL) && ok;
        ok = int_col(L, st, 4, T, rowid, key, "amount_fen", false, &t.amount, NULL) && ok;
        if (ok) {
            t.source = col_text(st, 5);
            *VPUSH(L->s->tal) = t;
        } else free(t.period);
        free(key);
    }
    return finish(L, st, rc, T);
}

static int load_reported(loader *L)
{
    const char *T = "reported_totals";
    sqlite3_stmt *st = prep(L, T, "SELECT rowid, scope, period, enterprises, amount_fen, source "
                                  "FROM reported_totals ORDER BY period, scope");
    if (!st) return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        long long rowid = sqlite3_column_int64(st, 0);
        char *key = xasprintf("scope=%s, period=%s", nz((const char *)sqlite3_column_text(st, 1)),
                              nz((const char *)sqlite3_column_text(st, 2)));
        reported t = {0};
        bool ok = district_ref(L, T, rowid, key, (const char *)sqlite3_column_text(st, 1), &t.d);
        ok = text_col(L, st, 2, T, rowid, key, "period", &t.period) && ok;
        ok = int_col(L, st, 3, T, rowid, key, "enterprises", true, &t.ent, &t.has_ent) && ok;
        ok = int_col(L, st, 4, T, rowid, key, "amount_fen", true, &t.amt, &t.has_amt) && ok;
        if (ok) {
            t.source = col_text(st, 5);
            *VPUSH(L->s->rep) = t;
        } else free(t.period);
        free(key);
    }
    return finish(L, st, rc, T);
}

static size_t find_enterprise(const stats *s, long long id)
{
    /* Loaded ORDER BY id: binary search. */
    size_t lo = 0, hi = s->ent.n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->ent.a[mid].id < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < s->ent.n && s->ent.a[lo].id == id ? lo : SIZE_MAX;
}

static int load_enterprises(loader *L)
{
    const char *T = "enterprises";
    /* contact_name and contact_phone are PRIVATE: never selected. */
    sqlite3_stmt *st = prep(L, T, "SELECT rowid, id, name, district_id FROM enterprises ORDER BY id");
    if (!st) return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        long long rowid = sqlite3_column_int64(st, 0);
        char *key = xasprintf("id=%s", nz((const char *)sqlite3_column_text(st, 1)));
        enterprise e = {0};
        bool ok = district_ref(L, T, rowid, key, (const char *)sqlite3_column_text(st, 3), &e.d);
        ok = text_col(L, st, 2, T, rowid, key, "name", &e.name) && ok;
        if (sqlite3_column_type(st, 1) != SQLITE_INTEGER) {
            row_error(L, T, rowid, key, "id must be an integer");
            ok = false;
        }
        e.id = sqlite3_column_int64(st, 1);
        if (ok) *VPUSH(L->s->ent) = e;
        else free(e.name);
        free(key);
    }
    return finish(L, st, rc, T);
}

static int load_erefs(loader *L)
{
    const char *T = "enterprise_refunds";
    sqlite3_stmt *st = prep(L, T, "SELECT rowid, enterprise_id, period, amount_fen, status "
                                  "FROM enterprise_refunds ORDER BY period, enterprise_id");
    if (!st) return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        long long rowid = sqlite3_column_int64(st, 0);
        char *key = xasprintf("enterprise_id=%s, period=%s", nz((const char *)sqlite3_column_text(st, 1)),
                              nz((const char *)sqlite3_column_text(st, 2)));
        eref e = {0};
        e.e = find_enterprise(L->s, sqlite3_column_int64(st, 1));
        bool ok = true;
        if (e.e == SIZE_MAX) {
            /* an unknown id was reported by check_all_refs */
            if (sqlite3_column_type(st, 1) == SQLITE_NULL)
                row_error(L, T, rowid, key, "enterprise_id is missing");
            ok = false;
        }
        ok = text_col(L, st, 2, T, rowid, key, "period", &e.period) && ok;
        ok = int_col(L, st, 3, T, rowid, key, "amount_fen", false, &e.amount, NULL) && ok;
        ok = text_col(L, st, 4, T, rowid, key, "status", &e.status) && ok;
        if (ok && strcmp(e.status, "approved") != 0 && strcmp(e.status, "refunded") != 0 &&
            strcmp(e.status, "rejected") != 0 && strcmp(e.status, "pending") != 0) {
            row_error(L, T, rowid, key, "unknown status '%s' (approved, refunded, rejected or pending)", e.status);
            ok = false;
        }
        if (ok) *VPUSH(L->s->er) = e;
        else { free(e.period); free(e.status); }
        free(key);
    }
    return finish(L, st, rc, T);
}

static const char *const UB_COLS[4] = {"enterprises_25plus", "unions_built", "members", "federations"};

static int load_ubuild(loader *L)
{
    const char *T = "union_building";
    sqlite3_stmt *st = prep(L, T, "SELECT rowid, district_id, period, enterprises_25plus, unions_built, "
                                  "members, federations FROM union_building ORDER BY period, district_id");
    if (!st) return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        long long rowid = sqlite3_column_int64(st, 0);
        char *key = xasprintf("district_id=%s, period=%s", nz((const char *)sqlite3_column_text(st, 1)),
                              nz((const char *)sqlite3_column_text(st, 2)));
        ubuild u = {0};
        bool ok = district_ref(L, T, rowid, key, (const char *)sqlite3_column_text(st, 1), &u.d);
        ok = text_col(L, st, 2, T, rowid, key, "period", &u.period) && ok;
        for (int i = 0; i < 4; i++)
            ok = int_col(L, st, 3 + i, T, rowid, key, UB_COLS[i], true, &u.v[i], &u.has[i]) && ok;
        if (ok) *VPUSH(L->s->ub) = u;
        else free(u.period);
        free(key);
    }
    return finish(L, st, rc, T);
}

static int load_achievements(loader *L)
{
    const char *T = "achievements";
    sqlite3_stmt *st = prep(L, T, "SELECT rowid, id, district_id, period, title, figure, source "
                                  "FROM achievements ORDER BY period, id");
    if (!st) return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        long long rowid = sqlite3_column_int64(st, 0);
        char *key = xasprintf("id=%s", nz((const char *)sqlite3_column_text(st, 1)));
        achievement a = {0};
        bool ok = district_ref(L, T, rowid, key, (const char *)sqlite3_column_text(st, 2), &a.d);
        ok = text_col(L, st, 3, T, rowid, key, "period", &a.period) && ok;
        ok = text_col(L, st, 4, T, rowid, key, "title", &a.title) && ok;
        if (ok) {
            a.figure = col_text(st, 5);
            a.source = col_text(st, 6);
            *VPUSH(L->s->ach) = a;
        } else { free(a.period); free(a.title); }
        free(key);
    }
    return finish(L, st, rc, T);
}

/* -------------------------------------------------------- reconciliation */

static void reconcile(stats *s, diag *d)
{
    for (size_t i = 0; i < s->rep.n; i++) {
        reported *r = &s->rep.a[i];
        for (size_t j = 0; j < s->tal.n; j++) {
            tally *t = &s->tal.a[j];
            if (s->dist.a[t->d].parent_i != r->d || strcmp(t->period, r->period) != 0) continue;
            r->nchildren++;
            r->sum_ent += t->enterprises;
            r->sum_amt += t->amount;
        }
        if (r->nchildren == 0) continue;    /* nothing to compare with */
        r->ent_mismatch = r->has_ent && r->ent != r->sum_ent;
        r->amt_mismatch = r->has_amt && r->amt != r->sum_amt;
        if (!r->ent_mismatch && !r->amt_mismatch) continue;
        s->nmismatch++;
        const district *sc = &s->dist.a[r->d];
        buf m = BUF_INIT;
        buf_printf(&m, "table reported_totals, row (scope=%s, period=%s): ", sc->id, r->period);
        buf_printf(&m, "document '%s' states for %s %s ", r->source ? r->source : "(no source)", sc->name, r->period);
        if (r->amt_mismatch) {
            char *a = money_wan_str(r->amt), *b = money_wan_str(r->sum_amt);
            char *c = money_yuan_str(r->amt - r->sum_amt);
            buf_printf(&m, "%s万元 (%lld fen), its %d districts add up to %s万元 (%lld fen), difference %s元",
                       a, r->amt, r->nchildren, b, r->sum_amt, c);
            free(a); free(b); free(c);
        }
        if (r->ent_mismatch)
            buf_printf(&m, "%s%lld enterprises, the districts add up to %lld (difference %lld)",
                       r->amt_mismatch ? "; " : "", r->ent, r->sum_ent, r->ent - r->sum_ent);
        diag_warn(d, s->path, 0, "%s", buf_cstr(&m));
        buf_free(&m);
    }
}

/* -------------------------------------------------------- load/free */

static void free_loader(loader *L)
{
    for (size_t i = 0; i < L->lines.n; i++) free(L->lines.a[i].table);
    free(L->lines.a);
    if (L->db) sqlite3_close(L->db);
}

int stats_load(const char *content_dir, stats **out, diag *d)
{
    *out = NULL;
    char *sq = path_join(content_dir, "stats/snapshot.sqlite");
    char *sql = path_join(content_dir, "stats/snapshot.sql");
    bool has_sq = path_exists(sq), has_sql = path_exists(sql);
    if (!has_sq && !has_sql) { free(sq); free(sql); return 0; }
    if (has_sq && has_sql) {
        diag_error(d, sq, 0, "both snapshot.sqlite and snapshot.sql exist; keep one");
        free(sq); free(sql);
        return -1;
    }
    stats *s = xcalloc(1, sizeof *s);
    s->path = has_sq ? sq : sql;
    free(has_sq ? sql : sq);

    char *data;
    size_t len;
    if (read_file(s->path, &data, &len) < 0) {
        diag_error(d, s->path, 0, "cannot read: %s", strerror(errno));
        stats_free(s);
        return -1;
    }
    sha256_hex(data, len, s->sha);

    loader L = {0};
    L.s = s;
    L.d = d;
    int rc = has_sq ? open_sqlite(&L, s->path, len) : load_dump(&L, data, len);
    free(data);
    if (rc == 0) rc = check_tables(&L);
    if (rc == 0) rc = load_meta(&L);
    if (rc == 0) {
        /* Load every table even after an error, to report all problems. */
        if (load_districts(&L) == 0) link_districts(&L);
        check_all_refs(&L);
        load_tallies(&L);
        load_reported(&L);
        load_enterprises(&L);
        load_erefs(&L);
        load_ubuild(&L);
        load_achievements(&L);
    }
    int nerr = L.nerr;
    free_loader(&L);
    if (rc != 0 || nerr > 0) {
        stats_free(s);
        return -1;
    }
    reconcile(s, d);
    *out = s;
    return 0;
}

void stats_free(stats *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->dist.n; i++) {
        free(s->dist.a[i].id); free(s->dist.a[i].name); free(s->dist.a[i].parent);
    }
    for (size_t i = 0; i < s->tal.n; i++) { free(s->tal.a[i].period); free(s->tal.a[i].source); }
    for (size_t i = 0; i < s->rep.n; i++) { free(s->rep.a[i].period); free(s->rep.a[i].source); }
    for (size_t i = 0; i < s->ent.n; i++) free(s->ent.a[i].name);
    for (size_t i = 0; i < s->er.n; i++) { free(s->er.a[i].period); free(s->er.a[i].status); }
    for (size_t i = 0; i < s->ub.n; i++) free(s->ub.a[i].period);
    for (size_t i = 0; i < s->ach.n; i++) {
        achievement *a = &s->ach.a[i];
        free(a->period); free(a->title); free(a->figure); free(a->source);
    }
    free(s->dist.a); free(s->tal.a); free(s->rep.a); free(s->ent.a);
    free(s->er.a); free(s->ub.a); free(s->ach.a);
    free(s->taken_at); free(s->meta_source); free(s->path);
    free(s);
}

const char *stats_sha256(const stats *s) { return s ? s->sha : ""; }
const char *stats_path(const stats *s) { return s ? s->path : ""; }
size_t stats_mismatches(const stats *s) { return s ? s->nmismatch : 0; }

bool stats_has_district(const stats *s, const char *id)
{
    return s && find_district(s, id) != SIZE_MAX;
}

const char *stats_district_name(const stats *s, const char *id)
{
    size_t i = s ? find_district(s, id) : SIZE_MAX;
    return i == SIZE_MAX ? NULL : s->dist.a[i].name;
}


/* -------------------------------------------------------- page model */

static void set_s(value *m, const char *k, const char *s)
{
    value_set(m, k, s ? value_str(s) : value_null());
}

static void set_i(value *m, const char *k, long long v) { value_set(m, k, value_int(v)); }

/* {fen, yuan: "4,314,900.00", wan: "431.49"} */
static value *money_val(long long fen)
{
    value *m = value_map();
    set_i(m, "fen", fen);
    char *y = money_yuan_str(fen), *w = money_wan_str(fen);
    set_s(m, "yuan", y);
    set_s(m, "wan", w);
    free(y); free(w);
    return m;
}

static value *grouped_val(long long n)
{
    buf b = BUF_INIT;
    int_grouped(&b, n);
    value *v = value_str(buf_cstr(&b));
    buf_free(&b);
    return v;
}

static char *district_url(const district *d)
{
    buf b = BUF_INIT;
    buf_puts(&b, "/districts/");
    esc_url(&b, d->id, strlen(d->id));
    buf_putc(&b, '/');
    return buf_detach(&b);
}

static value *district_ref_val(const stats *s, size_t i)
{
    const district *d = &s->dist.a[i];
    value *m = value_map();
    set_s(m, "id", d->id);
    set_s(m, "name", d->name);
    char *u = district_url(d);
    set_s(m, "url", u);
    free(u);
    set_i(m, "depth", d->depth);
    return m;
}

/* source slug -> {slug, url|null} */
static void set_source(value *m, const char *slug, const value *urls)
{
    set_s(m, "source", slug);
    const value *u = slug && urls ? value_get(urls, slug) : NULL;
    set_s(m, "source_url", value_type(u) == V_STRING ? value_str_ptr(u) : NULL);
}

/* Set key and has_key (non-empty?) for a list: templates wrap tables
 * around a list with {{#has_key}}, since Mustache cannot test emptiness. */
static void set_list(value *m, const char *k, value *list)
{
    char *has = xasprintf("has_%s", k);
    value_set(m, has, value_bool(value_len(list) > 0));
    value_set(m, k, list);
    free(has);
}

static value *page_val(const char *title, const char *url)
{
    value *p = value_map();
    set_s(p, "title", title);
    set_s(p, "url", url);
    return p;
}

static const char *status_label(const char *st)
{
    if (strcmp(st, "approved") == 0) return "已批准";
    if (strcmp(st, "refunded") == 0) return "已返还";
    if (strcmp(st, "rejected") == 0) return "未通过";
    if (strcmp(st, "pending") == 0) return "审核中";
    return st;
}

static value *reported_val(const stats *s, const reported *r, const value *urls)
{
    value *m = value_map();
    value_set(m, "scope", district_ref_val(s, r->d));
    set_s(m, "period", r->period);
    set_source(m, r->source, urls);
    value_set(m, "enterprises", r->has_ent ? value_int(r->ent) : value_null());
    value_set(m, "amount", r->has_amt ? money_val(r->amt) : value_null());
    value_set(m, "checked", value_bool(r->nchildren > 0));
    set_i(m, "computed_enterprises", r->sum_ent);
    value_set(m, "computed_amount", money_val(r->sum_amt));
    value_set(m, "mismatch", value_bool(r->ent_mismatch || r->amt_mismatch));
    value_set(m, "enterprises_mismatch", value_bool(r->ent_mismatch));
    value_set(m, "amount_mismatch", value_bool(r->amt_mismatch));
    set_i(m, "difference_enterprises", r->ent - r->sum_ent);
    value_set(m, "difference_amount", money_val(r->amt - r->sum_amt));
    return m;
}

static const reported *find_reported(const stats *s, size_t d, const char *period)
{
    for (size_t i = 0; i < s->rep.n; i++)
        if (s->rep.a[i].d == d && strcmp(s->rep.a[i].period, period) == 0) return &s->rep.a[i];
    return NULL;
}

static value *downloads_val(void)
{
    static const char *const files[][2] = {
        {"refunds", "经费返还（按地区、期间）"},
        {"reported-totals", "文件所述合计与核对"},
        {"districts", "地区"},
        {"union-building", "建会入会"},
        {"achievements", "工作成效"},
        {"enterprise-refunds", "企业返还明细"},
    };
    value *l = value_list();
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        value *m = value_map();
        set_s(m, "name", files[i][0]);
        set_s(m, "title", files[i][1]);
        value *csv = value_strf("/stats/%s.csv", files[i][0]);
        value_set(m, "csv", csv);
        value_set(m, "json", value_strf("/stats/%s.json", files[i][0]));
        value_push(l, m);
    }
    return l;
}

/* Sorted unique periods of the tallies (text order within a kind). */
static char **tally_periods(const stats *s, size_t *n)
{
    char **p = xcalloc(s->tal.n + 1, sizeof *p);
    size_t k = 0;
    for (size_t i = 0; i < s->tal.n; i++) {
        bool seen = false;
        for (size_t j = 0; j < k && !seen; j++) seen = strcmp(p[j], s->tal.a[i].period) == 0;
        if (!seen) p[k++] = s->tal.a[i].period;
    }
    qsort(p, k, sizeof *p, str_cmp_ptr);
    *n = k;
    return p;   /* strings borrowed from s */
}

/* Tallies of one period under one top-level body, in tree order. */
static size_t group_tallies(const stats *s, const char *period, size_t top, size_t *idx)
{
    size_t n = 0;
    for (size_t i = 0; i < s->tal.n; i++)
        if (strcmp(s->tal.a[i].period, period) == 0 && s->dist.a[s->tal.a[i].d].top_i == top)
            idx[n++] = i;
    /* insertion sort by tree order; groups are small */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && s->dist.a[s->tal.a[idx[j]].d].order <
                                     s->dist.a[s->tal.a[idx[j - 1]].d].order; j--) {
            size_t t = idx[j]; idx[j] = idx[j - 1]; idx[j - 1] = t;
        }
    return n;
}

/* District indexes in tree order. */
static size_t *tree_order(const stats *s)
{
    size_t *o = xmalloc((s->dist.n + 1) * sizeof *o);
    for (size_t i = 0; i < s->dist.n; i++) o[s->dist.a[i].order] = i;
    return o;
}

/* One refund table: the tallies idx[0..n) of `period` under `scope`, with
 * shares, a totals row, the reported total for (scope, period) if any, and
 * a bar chart. */
static value *refund_group(const stats *s, const char *period, size_t scope, const size_t *idx, size_t n,
                           const value *urls)
{
    long long sum_e = 0, sum_a = 0;
    for (size_t i = 0; i < n; i++) {
        sum_e += s->tal.a[idx[i]].enterprises;
        sum_a += s->tal.a[idx[i]].amount;
    }
    value *g = value_map();
    set_s(g, "period", period);
    value_set(g, "scope", district_ref_val(s, scope));
    value_set(g, "anchor", value_strf("p%s-%s", period, s->dist.a[scope].id));
    value *rows = value_list();
    chart_bar *bars = xcalloc(n + 1, sizeof *bars);
    char **texts = xcalloc(n + 1, sizeof *texts);
    for (size_t i = 0; i < n; i++) {
        const tally *t = &s->tal.a[idx[i]];
        value *r = value_map();
        value_set(r, "district", district_ref_val(s, t->d));
        set_i(r, "enterprises", t->enterprises);
        value_set(r, "amount", money_val(t->amount));
        char *share = ratio_pct_str(t->amount, sum_a);
        set_s(r, "share", share ? share : "—");
        free(share);
        set_source(r, t->source, urls);
        value_push(rows, r);
        char *w = money_wan_str(t->amount);
        texts[i] = xasprintf("%s万元（%lld家）", w, t->enterprises);
        free(w);
        bars[i] = (chart_bar){s->dist.a[t->d].name, t->amount, texts[i]};
    }
    value_set(g, "rows", rows);
    value *tot = value_map();
    set_i(tot, "enterprises", sum_e);
    value_set(tot, "amount", money_val(sum_a));
    set_s(tot, "share", sum_a > 0 ? "100.0" : "—");
    value_set(g, "total", tot);
    const reported *rep = find_reported(s, scope, period);
    value_set(g, "reported", rep ? reported_val(s, rep, urls) : value_null());
    buf svg = BUF_INIT;
    char *title = xasprintf("%s %s 小微企业工会经费返还金额（按地区）", s->dist.a[scope].name, period);
    char *id = xasprintf("chart-%s-%s", period, s->dist.a[scope].id);
    chart_bars_svg(&svg, id, title, "单位：万元。", bars, n);
    value_set(g, "chart", value_str(buf_cstr(&svg)));
    buf_free(&svg); free(title); free(id);
    for (size_t i = 0; i < n; i++) free(texts[i]);
    free(texts); free(bars);
    return g;
}

/* /stats/refunds/: per period (newest first), per top-level body. */
static value *refund_groups(const stats *s, const value *urls)
{
    value *groups = value_list();
    size_t np;
    char **periods = tally_periods(s, &np);
    size_t *idx = xmalloc((s->tal.n + 1) * sizeof *idx);
    size_t *o = tree_order(s);
    for (size_t p = np; p-- > 0;) {
        bool first = true;
        for (size_t k = 0; k < s->dist.n; k++) {
            size_t top = o[k];
            if (s->dist.a[top].parent_i != SIZE_MAX) continue;
            size_t n = group_tallies(s, periods[p], top, idx);
            if (n == 0) continue;
            value *g = refund_group(s, periods[p], top, idx, n, urls);
            /* only the first table of a period carries the #pPERIOD anchor
             * (ids must be unique) */
            value_set(g, "first_of_period", value_bool(first));
            first = false;
            value_push(groups, g);
        }
    }
    free(o);
    free(idx);
    free(periods);
    return groups;
}

/* A district page: its direct children's tallies, per period. */
static value *child_groups(const stats *s, size_t di, const value *urls)
{
    value *groups = value_list();
    size_t np;
    char **periods = tally_periods(s, &np);
    size_t *idx = xmalloc((s->tal.n + 1) * sizeof *idx);
    for (size_t p = np; p-- > 0;) {
        size_t n = 0;
        for (size_t i = 0; i < s->tal.n; i++)
            if (s->dist.a[s->tal.a[i].d].parent_i == di && strcmp(s->tal.a[i].period, periods[p]) == 0)
                idx[n++] = i;
        for (size_t i = 1; i < n; i++)   /* tree order; small */
            for (size_t j = i; j > 0 && s->dist.a[s->tal.a[idx[j]].d].order <
                                         s->dist.a[s->tal.a[idx[j - 1]].d].order; j--) {
                size_t t = idx[j]; idx[j] = idx[j - 1]; idx[j - 1] = t;
            }
        if (n > 0) value_push(groups, refund_group(s, periods[p], di, idx, n, urls));
    }
    free(idx);
    free(periods);
    return groups;
}

static value *ctx_overview(stats *s, const value *urls)
{
    value *c = value_map();
    value_set(c, "page", page_val("统计数据", "/stats/"));
    value *snap = value_map();
    set_s(snap, "taken_at", s->taken_at);
    set_s(snap, "source", s->meta_source);
    set_s(snap, "sha256", s->sha);
    value_set(c, "snapshot", snap);
    size_t np;
    char **periods = tally_periods(s, &np);
    value *plist = value_list();
    for (size_t p = np; p-- > 0;) {
        long long e = 0, a = 0;
        int nd = 0;
        for (size_t i = 0; i < s->tal.n; i++)
            if (strcmp(s->tal.a[i].period, periods[p]) == 0) {
                e += s->tal.a[i].enterprises; a += s->tal.a[i].amount; nd++;
            }
        value *m = value_map();
        set_s(m, "period", periods[p]);
        set_i(m, "districts", nd);
        set_i(m, "enterprises", e);
        value_set(m, "amount", money_val(a));
        if (p == np - 1) value_set(c, "latest", value_ref(m));
        value_push(plist, m);
    }
    if (np == 0) value_set(c, "latest", value_null());
    free(periods);
    value_set(c, "periods", plist);
    long long te = 0, ta = 0;
    for (size_t i = 0; i < s->tal.n; i++) { te += s->tal.a[i].enterprises; ta += s->tal.a[i].amount; }
    value *tot = value_map();
    set_i(tot, "enterprises", te);
    value_set(tot, "amount", money_val(ta));
    value_set(c, "total", tot);
    value *recon = value_list();
    for (size_t i = 0; i < s->rep.n; i++) value_push(recon, reported_val(s, &s->rep.a[i], urls));
    set_list(c, "reported", recon);
    set_i(c, "mismatches", (long long)s->nmismatch);
    set_i(c, "district_count", (long long)s->dist.n);
    set_i(c, "enterprise_count", (long long)s->ent.n);
    value_set(c, "downloads", downloads_val());
    return c;
}

static value *ctx_refunds(stats *s, const value *urls)
{
    value *c = value_map();
    value_set(c, "page", page_val("小微企业工会经费返还", "/stats/refunds/"));
    set_list(c, "groups", refund_groups(s, urls));
    value_set(c, "downloads", downloads_val());
    return c;
}

static value *lookup_entry(const stats *s, const eref *r)
{
    const enterprise *e = &s->ent.a[r->e];
    value *m = value_map();
    set_s(m, "name", e->name);
    value_set(m, "district", district_ref_val(s, e->d));
    set_s(m, "period", r->period);
    value_set(m, "amount", money_val(r->amount));
    set_s(m, "status", r->status);
    set_s(m, "status_label", status_label(r->status));
    return m;
}

static value *ctx_lookup(stats *s)
{
    value *c = value_map();
    value_set(c, "page", page_val("小微企业经费返还查询", "/stats/lookup/"));
    value *l = value_list();
    for (size_t i = 0; i < s->er.n; i++) value_push(l, lookup_entry(s, &s->er.a[i]));
    set_list(c, "entries", l);
    set_i(c, "count", (long long)s->er.n);
    return c;
}

static bool is_descendant(const stats *s, size_t d, size_t anc)
{
    for (size_t cur = s->dist.a[d].parent_i; cur != SIZE_MAX; cur = s->dist.a[cur].parent_i)
        if (cur == anc) return true;
    return false;
}

static value *ctx_districts(stats *s)
{
    value *c = value_map();
    value_set(c, "page", page_val("地区", "/districts/"));
    size_t *o = tree_order(s);
    value *tops = value_list();
    for (size_t k = 0; k < s->dist.n; k++) {
        size_t t = o[k];
        if (s->dist.a[t].parent_i != SIZE_MAX) continue;
        value *m = district_ref_val(s, t);
        value *ch = value_list();
        for (size_t j = 0; j < s->dist.n; j++)
            if (is_descendant(s, o[j], t)) value_push(ch, district_ref_val(s, o[j]));
        set_list(m, "children", ch);
        value_push(tops, m);
    }
    free(o);
    value_set(c, "tops", tops);
    return c;
}

static value *ctx_district(stats *s, size_t di, const value *docs, const value *urls)
{
    const district *d = &s->dist.a[di];
    value *c = value_map();
    char *url = district_url(d);
    value_set(c, "page", page_val(d->name, url));
    free(url);
    value_set(c, "district", district_ref_val(s, di));
    /* breadcrumbs: ancestors, top first */
    value *bc = value_list();
    size_t chain[64], nc = 0;
    for (size_t cur = d->parent_i; cur != SIZE_MAX && nc < 64; cur = s->dist.a[cur].parent_i) chain[nc++] = cur;
    while (nc > 0) value_push(bc, district_ref_val(s, chain[--nc]));
    value_set(c, "breadcrumbs", bc);
    size_t *o = tree_order(s);
    value *ch = value_list();
    for (size_t k = 0; k < s->dist.n; k++)
        if (s->dist.a[o[k]].parent_i == di) value_push(ch, district_ref_val(s, o[k]));
    free(o);
    set_list(c, "children", ch);

    /* refund tallies over time, oldest first */
    value *rl = value_list();
    chart_bar *bars = xcalloc(s->tal.n + 1, sizeof *bars);
    char **texts = xcalloc(s->tal.n + 1, sizeof *texts);
    size_t nb = 0;
    for (size_t i = 0; i < s->tal.n; i++) {
        const tally *t = &s->tal.a[i];
        if (t->d != di) continue;
        value *r = value_map();
        set_s(r, "period", t->period);
        set_i(r, "enterprises", t->enterprises);
        value_set(r, "amount", money_val(t->amount));
        set_source(r, t->source, urls);
        value_push(rl, r);
        char *w = money_wan_str(t->amount);
        texts[nb] = xasprintf("%s万元（%lld家）", w, t->enterprises);
        free(w);
        bars[nb] = (chart_bar){t->period, t->amount, texts[nb]};
        nb++;
    }
    set_list(c, "refunds", rl);
    if (nb > 0) {
        buf svg = BUF_INIT;
        char *title = xasprintf("%s 小微企业工会经费返还金额（按期间）", d->name);
        char *id = xasprintf("chart-%s", d->id);
        chart_bars_svg(&svg, id, title, "单位：万元。", bars, nb);
        value_set(c, "refunds_chart", value_str(buf_cstr(&svg)));
        buf_free(&svg); free(title); free(id);
    } else value_set(c, "refunds_chart", value_null());
    for (size_t i = 0; i < nb; i++) free(texts[i]);
    free(texts); free(bars);

    set_list(c, "child_refunds", child_groups(s, di, urls));

    value *rep = value_list();
    for (size_t i = 0; i < s->rep.n; i++)
        if (s->rep.a[i].d == di) value_push(rep, reported_val(s, &s->rep.a[i], urls));
    set_list(c, "reported", rep);

    value *ub = value_list();
    for (size_t i = 0; i < s->ub.n; i++) {
        const ubuild *u = &s->ub.a[i];
        if (u->d != di) continue;
        value *m = value_map();
        set_s(m, "period", u->period);
        for (int k = 0; k < 4; k++)
            value_set(m, UB_COLS[k], u->has[k] ? grouped_val(u->v[k]) : value_str("—"));
        char *rate = u->has[0] && u->has[1] ? ratio_pct_str(u->v[1], u->v[0]) : NULL;
        set_s(m, "rate", rate ? rate : NULL);
        free(rate);
        value_push(ub, m);
    }
    set_list(c, "union_building", ub);

    value *al = value_list();
    for (size_t i = 0; i < s->ach.n; i++) {
        const achievement *a = &s->ach.a[i];
        if (a->d != di) continue;
        value *m = value_map();
        set_s(m, "period", a->period);
        set_s(m, "title", a->title);
        set_s(m, "figure", a->figure);
        set_source(m, a->source, urls);
        value_push(al, m);
    }
    set_list(c, "achievements", al);

    const value *dl = docs ? value_get(docs, d->id) : NULL;
    set_list(c, "documents", value_type(dl) == V_LIST ? value_ref((value *)dl) : value_list());
    return c;
}

value *stats_page_context(stats *s, const char *page, const value *docs_by_district,
                          const value *doc_urls_by_slug, diag *d)
{
    (void)d;
    if (!s || !page) return NULL;
    if (strcmp(page, "stats/") == 0) return ctx_overview(s, doc_urls_by_slug);
    if (strcmp(page, "stats/refunds/") == 0) return ctx_refunds(s, doc_urls_by_slug);
    if (strcmp(page, "stats/lookup/") == 0) return ctx_lookup(s);
    if (strcmp(page, "districts/") == 0) return ctx_districts(s);
    if (str_starts(page, "districts/")) {
        const char *id = page + strlen("districts/");
        size_t n = strlen(id);
        if (n < 2 || id[n - 1] != '/') return NULL;
        char *x = xstrndup(id, n - 1);
        size_t di = find_district(s, x);
        free(x);
        if (di != SIZE_MAX) return ctx_district(s, di, docs_by_district, doc_urls_by_slug);
    }
    return NULL;
}

/* -------------------------------------------------------- data files */

/* Each open-data table is built once as a list of flat maps; the CSV and
 * JSON files are both derived from it, so they cannot disagree. */
typedef struct {
    const char *name;
    const char *const *cols;
} table_def;

static const char *const COLS_DISTRICTS[] = {"id", "name", "parent", "sort", NULL};
static const char *const COLS_REFUNDS[] = {"period", "district_id", "district", "parent_id", "enterprises",
                                           "amount_fen", "amount_yuan", "source", NULL};
static const char *const COLS_REPORTED[] = {"scope", "scope_name", "period", "reported_enterprises",
                                            "reported_amount_fen", "computed_enterprises", "computed_amount_fen",
                                            "difference_enterprises", "difference_amount_fen", "status",
                                            "source", NULL};
static const char *const COLS_UB[] = {"district_id", "district", "period", "enterprises_25plus",
                                      "unions_built", "rate_percent", "members", "federations", NULL};
static const char *const COLS_ACH[] = {"district_id", "district", "period", "title", "figure", "source", NULL};
static const char *const COLS_EREF[] = {"name", "district_id", "district", "period", "amount_fen",
                                        "amount_yuan", "status", NULL};

static value *rows_districts(const stats *s)
{
    value *l = value_list();
    size_t *o = tree_order(s);
    for (size_t k = 0; k < s->dist.n; k++) {
        const district *d = &s->dist.a[o[k]];
        value *m = value_map();
        set_s(m, "id", d->id); set_s(m, "name", d->name); set_s(m, "parent", d->parent);
        set_i(m, "sort", d->sort);
        value_push(l, m);
    }
    free(o);
    return l;
}

static value *rows_refunds(const stats *s)
{
    value *l = value_list();
    for (size_t i = 0; i < s->tal.n; i++) {
        const tally *t = &s->tal.a[i];
        const district *d = &s->dist.a[t->d];
        value *m = value_map();
        set_s(m, "period", t->period); set_s(m, "district_id", d->id); set_s(m, "district", d->name);
        set_s(m, "parent_id", d->parent);
        set_i(m, "enterprises", t->enterprises); set_i(m, "amount_fen", t->amount);
        char *y = money_yuan_str(t->amount);
        set_s(m, "amount_yuan", y);
        free(y);
        set_s(m, "source", t->source);
        value_push(l, m);
    }
    return l;
}

static value *opt_int(bool has, long long v) { return has ? value_int(v) : value_null(); }

static value *rows_reported(const stats *s)
{
    value *l = value_list();
    for (size_t i = 0; i < s->rep.n; i++) {
        const reported *r = &s->rep.a[i];
        bool checked = r->nchildren > 0;
        value *m = value_map();
        set_s(m, "scope", s->dist.a[r->d].id); set_s(m, "scope_name", s->dist.a[r->d].name);
        set_s(m, "period", r->period);
        value_set(m, "reported_enterprises", opt_int(r->has_ent, r->ent));
        value_set(m, "reported_amount_fen", opt_int(r->has_amt, r->amt));
        value_set(m, "computed_enterprises", opt_int(checked, r->sum_ent));
        value_set(m, "computed_amount_fen", opt_int(checked, r->sum_amt));
        value_set(m, "difference_enterprises", opt_int(checked && r->has_ent, r->ent - r->sum_ent));
        value_set(m, "difference_amount_fen", opt_int(checked && r->has_amt, r->amt - r->sum_amt));
        set_s(m, "status", !checked ? "unchecked" : r->ent_mismatch || r->amt_mismatch ? "mismatch" : "ok");
        set_s(m, "source", r->source);
        value_push(l, m);
    }
    return l;
}

static value *rows_ub(const stats *s)
{
    value *l = value_list();
    for (size_t i = 0; i < s->ub.n; i++) {
        const ubuild *u = &s->ub.a[i];
        value *m = value_map();
        set_s(m, "district_id", s->dist.a[u->d].id); set_s(m, "district", s->dist.a[u->d].name);
        set_s(m, "period", u->period);
        value_set(m, "enterprises_25plus", opt_int(u->has[0], u->v[0]));
        value_set(m, "unions_built", opt_int(u->has[1], u->v[1]));
        char *rate = u->has[0] && u->has[1] ? ratio_pct_str(u->v[1], u->v[0]) : NULL;
        set_s(m, "rate_percent", rate);
        free(rate);
        value_set(m, "members", opt_int(u->has[2], u->v[2]));
        value_set(m, "federations", opt_int(u->has[3], u->v[3]));
        value_push(l, m);
    }
    return l;
}

static value *rows_ach(const stats *s)
{
    value *l = value_list();
    for (size_t i = 0; i < s->ach.n; i++) {
        const achievement *a = &s->ach.a[i];
        value *m = value_map();
        set_s(m, "district_id", s->dist.a[a->d].id); set_s(m, "district", s->dist.a[a->d].name);
        set_s(m, "period", a->period); set_s(m, "title", a->title); set_s(m, "figure", a->figure);
        set_s(m, "source", a->source);
        value_push(l, m);
    }
    return l;
}

/* Enterprise refunds: also the lookup index. No contact fields exist in
 * the model at all (they are never selected). */
static value *rows_eref(const stats *s)
{
    value *l = value_list();
    for (size_t i = 0; i < s->er.n; i++) {
        const eref *r = &s->er.a[i];
        const enterprise *e = &s->ent.a[r->e];
        value *m = value_map();
        set_s(m, "name", e->name);
        set_s(m, "district_id", s->dist.a[e->d].id); set_s(m, "district", s->dist.a[e->d].name);
        set_s(m, "period", r->period);
        set_i(m, "amount_fen", r->amount);
        char *y = money_yuan_str(r->amount);
        set_s(m, "amount_yuan", y);
        free(y);
        set_s(m, "status", r->status);
        value_push(l, m);
    }
    return l;
}

static char *to_csv(const value *rows, const char *const *cols, size_t *len)
{
    csv_writer w;
    csv_begin(&w);
    for (const char *const *c = cols; *c; c++) csv_raw(&w, *c);
    csv_end_row(&w);
    for (size_t i = 0; i < value_len(rows); i++) {
        const value *m = value_at(rows, i);
        for (const char *const *c = cols; *c; c++) {
            const value *v = value_get(m, *c);
            if (value_type(v) == V_INT) csv_int(&w, value_int_of(v));
            else if (value_type(v) == V_STRING) csv_text(&w, value_str_ptr(v));
            else csv_raw(&w, "");
        }
        csv_end_row(&w);
    }
    *len = w.out.len;
    return buf_detach(&w.out);
}

static value *data_rows(const stats *s, const char *base, const char *const **cols)
{
    if (strcmp(base, "districts") == 0) { *cols = COLS_DISTRICTS; return rows_districts(s); }
    if (strcmp(base, "refunds") == 0) { *cols = COLS_REFUNDS; return rows_refunds(s); }
    if (strcmp(base, "reported-totals") == 0) { *cols = COLS_REPORTED; return rows_reported(s); }
    if (strcmp(base, "union-building") == 0) { *cols = COLS_UB; return rows_ub(s); }
    if (strcmp(base, "achievements") == 0) { *cols = COLS_ACH; return rows_ach(s); }
    if (strcmp(base, "enterprise-refunds") == 0 || strcmp(base, "lookup") == 0) {
        *cols = COLS_EREF;
        return rows_eref(s);
    }
    return NULL;
}

char *stats_data_file(stats *s, const char *name, size_t *len)
{
    const char *dot = name ? strrchr(name, '.') : NULL;
    if (!s || !dot) return NULL;
    char *base = xstrndup(name, (size_t)(dot - name));
    bool csv = strcmp(dot, ".csv") == 0, json = strcmp(dot, ".json") == 0;
    const char *const *cols = NULL;
    value *rows = (csv || json) && !(csv && strcmp(base, "lookup") == 0) ? data_rows(s, base, &cols) : NULL;
    free(base);
    if (!rows) return NULL;
    char *out;
    if (csv) out = to_csv(rows, cols, len);
    else {
        buf b = BUF_INIT;
        value_to_json(&b, rows);
        buf_putc(&b, '\n');
        *len = b.len;
        out = buf_detach(&b);
    }
    value_unref(rows);
    return out;
}

/* -------------------------------------------------------- writing */

/* Every source slug should name a published document. */
static void check_sources(const stats *s, const value *urls, diag *d)
{
    const char **seen = xcalloc(s->tal.n + s->rep.n + s->ach.n + 1, sizeof *seen);
    size_t n = 0;
    for (size_t k = 0; k < s->tal.n + s->rep.n + s->ach.n; k++) {
        const char *slug = k < s->tal.n ? s->tal.a[k].source
                         : k < s->tal.n + s->rep.n ? s->rep.a[k - s->tal.n].source
                         : s->ach.a[k - s->tal.n - s->rep.n].source;
        if (!slug || (urls && value_get(urls, slug))) continue;
        bool dup = false;
        for (size_t i = 0; i < n && !dup; i++) dup = strcmp(seen[i], slug) == 0;
        if (dup) continue;
        seen[n++] = slug;
        diag_warn(d, s->path, 0, "source '%s' names no published document; figures from it are not linked", slug);
    }
    free(seen);
}

static int write_page(stats *s, renderer *r, const char *page, const char *tpl,
                      const value *docs, const value *urls, diag *d)
{
    value *ctx = stats_page_context(s, page, docs, urls, d);
    if (!ctx) return -1;
    char *rel = xasprintf("%sindex.html", page);
    int rc = render_page(r, rel, tpl, ctx);
    free(rel);
    value_unref(ctx);
    return rc;
}

int stats_write(stats *s, renderer *r, const value *docs_by_district,
                const value *doc_urls_by_slug, diag *d)
{
    if (!s) return 0;
    int rc = 0;
    check_sources(s, doc_urls_by_slug, d);
    rc |= write_page(s, r, "stats/", "stats", docs_by_district, doc_urls_by_slug, d);
    rc |= write_page(s, r, "stats/refunds/", "stats-refunds", docs_by_district, doc_urls_by_slug, d);
    rc |= write_page(s, r, "stats/lookup/", "lookup", docs_by_district, doc_urls_by_slug, d);
    rc |= write_page(s, r, "districts/", "districts", docs_by_district, doc_urls_by_slug, d);
    for (size_t i = 0; i < s->dist.n; i++) {
        /* ids were checked to be slugs at load time: safe as a path */
        char *rel = xasprintf("districts/%s/index.html", s->dist.a[i].id);
        value *ctx = ctx_district(s, i, docs_by_district, doc_urls_by_slug);
        rc |= render_page(r, rel, "district", ctx);
        value_unref(ctx);
        free(rel);
    }
    static const char *const files[] = {
        "districts", "refunds", "reported-totals", "union-building", "achievements", "enterprise-refunds",
    };
    outdir *o = renderer_out(r);
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        for (int j = 0; j < 2; j++) {
            char *name = xasprintf("%s.%s", files[i], j ? "json" : "csv");
            char *rel = xasprintf("stats/%s", name);
            size_t len;
            char *data = stats_data_file(s, name, &len);
            rc |= out_write(o, rel, data, len);
            free(data); free(name); free(rel);
        }
    }
    size_t len;
    char *lk = stats_data_file(s, "lookup.json", &len);
    rc |= out_write(o, "stats/lookup.json", lk, len);
    free(lk);
    return rc ? -1 : 0;
}
