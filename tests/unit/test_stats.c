/* test_stats.c - snapshot loading, validation, reconciliation, page
 * contexts, data files and privacy; plus SHA-256 and CSV quoting. */
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>
#include "csv.h"
#include "diag.h"
#include "sha256.h"
#include "stats.h"
#include "test.h"
#include "value.h"

/* ---------------------------------------------------------- helpers */

static char tmpl[64];

static const char *tmpdir(void)
{
    snprintf(tmpl, sizeof tmpl, "/tmp/gz-stats-XXXXXX");
    return mkdtemp(tmpl);
}

/* All diag messages joined by newlines (caller frees). */
static char *messages(diag *d)
{
    buf b = BUF_INIT;
    if (diag_total(d) == 0) return xstrdup("");   /* diag_sort(empty) calls qsort(NULL) */
    diag_sort(d);
    for (size_t i = 0; i < diag_total(d); i++) {
        buf_puts(&b, diag_message(d, i));
        buf_putc(&b, '\n');
    }
    return buf_detach(&b);
}

static const char *MINI =
    "CREATE TABLE snapshot_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);\n"
    "INSERT INTO snapshot_meta VALUES('schema_version','1');\n"
    "CREATE TABLE districts(id TEXT PRIMARY KEY, name TEXT NOT NULL, parent TEXT, sort INTEGER NOT NULL DEFAULT 0);\n"
    "INSERT INTO districts VALUES('city','某市',NULL,1);\n"
    "INSERT INTO districts VALUES('a','甲区','city',1);\n"
    "INSERT INTO districts VALUES('b','乙区','city',2);\n"
    "CREATE TABLE refund_tallies(district_id TEXT, period TEXT, enterprises INTEGER, amount_fen INTEGER, source TEXT);\n"
    "INSERT INTO refund_tallies VALUES('a','2020',2,1000000,'doc-a');\n"
    "INSERT INTO refund_tallies VALUES('b','2020',3,3000000,'doc-a');\n"
    "CREATE TABLE reported_totals(scope TEXT, period TEXT, enterprises INTEGER, amount_fen INTEGER, source TEXT);\n"
    "CREATE TABLE enterprises(id INTEGER PRIMARY KEY, name TEXT NOT NULL, district_id TEXT, employees INTEGER,\n"
    "  contact_name TEXT, contact_phone TEXT);\n"
    "INSERT INTO enterprises VALUES(1,'一号公司','a',10,'私密联系人','13900000000');\n"
    "CREATE TABLE enterprise_refunds(enterprise_id INTEGER, period TEXT, amount_fen INTEGER, status TEXT);\n"
    "INSERT INTO enterprise_refunds VALUES(1,'2020',50000,'refunded');\n"
    "CREATE TABLE union_building(district_id TEXT, period TEXT, enterprises_25plus INTEGER, unions_built INTEGER,\n"
    "  members INTEGER, federations INTEGER);\n"
    "INSERT INTO union_building VALUES('a','2021',3,2,100,NULL);\n"
    "CREATE TABLE achievements(id INTEGER PRIMARY KEY, district_id TEXT, period TEXT, title TEXT NOT NULL,\n"
    "  figure TEXT, source TEXT);\n"
    "INSERT INTO achievements VALUES(1,'a','2020','成效','5万个','doc-a');\n";

/* Write content/stats/snapshot.sql = MINI + extra (or exactly `whole`). */
static char *make_content(const char *whole, const char *extra)
{
    const char *dir = tmpdir();
    char *content = xasprintf("%s/content", dir);
    char *path = xasprintf("%s/stats/snapshot.sql", content);
    buf b = BUF_INIT;
    buf_puts(&b, whole ? whole : MINI);
    if (extra) buf_puts(&b, extra);
    write_file_atomic(path, b.ptr, b.len);
    buf_free(&b);
    free(path);
    return content;
}

static void cleanup(char *content)
{
    char *top = xstrndup(content, strlen(content) - strlen("/content"));
    rm_rf(top);
    free(top);
    free(content);
}

/* Load MINI+extra; return rc and messages. */
static int load_with(const char *whole, const char *extra, stats **out, char **msgs)
{
    char *content = make_content(whole, extra);
    diag *d = diag_new();
    stats *s = NULL;
    int rc = stats_load(content, &s, d);
    *msgs = messages(d);
    diag_free(d);
    cleanup(content);
    if (out) *out = s;
    else stats_free(s);
    return rc;
}

/* ---------------------------------------------------------- sha256 */

TEST(sha256_fips_vectors)
{
    char hex[65];
    sha256_hex("abc", 3, hex);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sha256_hex("", 0, hex);
    CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha256_hex(two, strlen(two), hex);
    CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* one million 'a', fed in uneven pieces */
    sha256_ctx c;
    unsigned char md[32];
    char *a = xmalloc(1000000);
    memset(a, 'a', 1000000);
    sha256_init(&c);
    sha256_update(&c, a, 1);
    sha256_update(&c, a, 63);
    sha256_update(&c, a, 999936);
    sha256_final(&c, md);
    free(a);
    CHECK(md[0] == 0xcd && md[1] == 0xc7 && md[31] == 0xd0);
}

/* ---------------------------------------------------------- csv */

TEST(csv_quoting)
{
    csv_writer w;
    csv_begin(&w);
    csv_text(&w, "plain");
    csv_text(&w, "a,b");
    csv_text(&w, "say \"hi\"");
    csv_text(&w, "two\nlines");
    csv_text(&w, "");
    csv_text(&w, NULL);
    csv_int(&w, -5);
    csv_end_row(&w);
    csv_text(&w, "=1+1");
    csv_text(&w, "'); DROP TABLE x;--");
    csv_end_row(&w);
    CHECK_STR(w.out.ptr, "\xEF\xBB\xBFplain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",,,-5\r\n"
                         "\"'=1+1\",'); DROP TABLE x;--\r\n");
    buf_free(&w.out);
}

/* ---------------------------------------------------------- loading */

TEST(no_snapshot_is_not_an_error)
{
    const char *dir = tmpdir();
    diag *d = diag_new();
    stats *s = (stats *)1;
    CHECK(stats_load(dir, &s, d) == 0);
    CHECK(s == NULL);
    CHECK(diag_total(d) == 0);
    diag_free(d);
    rm_rf(dir);
}

TEST(minimal_snapshot_loads)
{
    stats *s;
    char *m;
    CHECK(load_with(NULL, NULL, &s, &m) == 0);
    CHECK_STR(m, "");
    CHECK(s != NULL);
    CHECK(stats_has_district(s, "a"));
    CHECK(!stats_has_district(s, "zz"));
    CHECK_STR(stats_district_name(s, "city"), "某市");
    CHECK(strlen(stats_sha256(s)) == 64);
    stats_free(s);
    free(m);
}

static void expect_error(const char *extra, const char *want)
{
    char *m;
    CHECK(load_with(NULL, extra, NULL, &m) == -1);
    CHECK_CONTAINS(m, want);
    free(m);
}

TEST(unknown_district)
{
    expect_error("INSERT INTO refund_tallies VALUES('x','2020',1,1,NULL);\n",
                 "snapshot.sql:22: error: table refund_tallies, row (district_id=x, period=2020): unknown district 'x'");
}

TEST(negative_amount)
{
    expect_error("INSERT INTO refund_tallies VALUES('a','2021',1,-100,NULL);\n",
                 "table refund_tallies, row (district_id=a, period=2021): negative amount_fen -100");
    expect_error("INSERT INTO enterprise_refunds VALUES(1,'2021',-1,'pending');\n",
                 "table enterprise_refunds, row (enterprise_id=1, period=2021): negative amount_fen -1");
}

TEST(non_integer_money)
{
    expect_error("INSERT INTO refund_tallies VALUES('a','2021',1,12.5,NULL);\n",
                 "amount_fen must be an integer, got '12.5'");
}

TEST(dangling_references)
{
    expect_error("INSERT INTO enterprise_refunds VALUES(99,'2020',1,'pending');\n",
                 "table enterprise_refunds, row (enterprise_id=99, period=2020): unknown enterprise '99'");
    expect_error("INSERT INTO districts VALUES('c','丙区','nowhere',3);\n",
                 "table districts, row (id=c): unknown parent district 'nowhere'");
    expect_error("INSERT INTO union_building VALUES('q','2021',1,1,1,1);\n",
                 "table union_building, row (district_id=q, period=2021): unknown district 'q'");
    expect_error("INSERT INTO achievements VALUES(7,'q','2021','t',NULL,NULL);\n",
                 "table achievements, row (id=7): unknown district 'q'");
    expect_error("INSERT INTO reported_totals VALUES('q','2021',1,1,NULL);\n",
                 "table reported_totals, row (scope=q, period=2021): unknown district 'q'");
    expect_error("INSERT INTO enterprises VALUES(5,'n','q',1,NULL,NULL);\n",
                 "table enterprises, row (id=5): unknown district 'q'");
}

TEST(bad_status_and_cycle_and_slug)
{
    expect_error("INSERT INTO enterprise_refunds VALUES(1,'2021',1,'paid');\n", "unknown status 'paid'");
    expect_error("UPDATE districts SET parent='a' WHERE id='city';\n", "parent chain loops");
    expect_error("INSERT INTO districts VALUES('../x','坏',NULL,9);\n", "is not a slug");
    expect_error("CREATE TABLE e2(id TEXT, name TEXT, district_id TEXT);\n"
                 "INSERT INTO e2 VALUES('x1','n','a');\n"
                 "DROP TABLE enterprise_refunds; DROP TABLE enterprises;\n"
                 "ALTER TABLE e2 RENAME TO enterprises;\n"
                 "CREATE TABLE enterprise_refunds(enterprise_id, period, amount_fen, status);\n",
                 "table enterprises, row (id=x1): id must be an integer");
}

TEST(missing_table)
{
    char *m;
    CHECK(load_with(NULL, "DROP TABLE union_building;\n", NULL, &m) == -1);
    CHECK_CONTAINS(m, "missing table union_building");
    free(m);
}

TEST(missing_column)
{
    char *m;
    CHECK(load_with(NULL, "ALTER TABLE achievements DROP COLUMN figure;\n", NULL, &m) == -1);
    CHECK_CONTAINS(m, "table achievements: no such column: figure");
    free(m);
}

TEST(wrong_schema_version)
{
    char *m;
    CHECK(load_with(NULL, "UPDATE snapshot_meta SET value='2' WHERE key='schema_version';\n", NULL, &m) == -1);
    CHECK_CONTAINS(m, "schema_version is '2', this generator reads version 1");
    free(m);
    CHECK(load_with(NULL, "DELETE FROM snapshot_meta;\n", NULL, &m) == -1);
    CHECK_CONTAINS(m, "no schema_version");
    free(m);
}

TEST(sql_syntax_error_has_line)
{
    char *m;
    CHECK(load_with(NULL, "\n\nINSERT INTO districts VALUES('d','丁区',NULL,4)\nINSRT INTO x;\n", NULL, &m) == -1);
    CHECK_CONTAINS(m, "snapshot.sql:25: error: SQL error: near \"INSRT\": syntax error");
    free(m);
}

TEST(dump_cannot_touch_files)
{
    char *m;
    CHECK(load_with(NULL, "ATTACH DATABASE '/tmp/gz-evil.db' AS evil;\n", NULL, &m) == -1);
    CHECK_CONTAINS(m, "SQL error");
    free(m);
    CHECK(load_with(NULL, "VACUUM INTO '/tmp/gz-evil.db';\n", NULL, &m) == -1);
    CHECK_CONTAINS(m, "VACUUM is not allowed");
    free(m);
    CHECK(load_with(NULL, "PRAGMA journal_mode=OFF;\n", NULL, &m) == -1);
    free(m);
    CHECK(access("/tmp/gz-evil.db", F_OK) != 0);
}

TEST(runaway_sql_is_stopped)
{
    char *m;
    CHECK(load_with(NULL, "INSERT INTO snapshot_meta SELECT 'k'||x, x FROM (WITH RECURSIVE c(x) AS "
                          "(SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT x FROM c);\n", NULL, &m) == -1);
    CHECK_CONTAINS(m, "snapshot.sql:22: error: the snapshot takes too much work to load");
    free(m);
    CHECK(load_with(NULL, "INSERT INTO achievements VALUES(9,'a','2020',zeroblob(100000000),NULL,NULL);\n",
                    NULL, &m) == -1);
    CHECK_CONTAINS(m, "too big");
    free(m);
}

/* ---------------------------------------------------------- sqlite file */

static char *make_sqlite(const char *sql, const char *raw, size_t rawlen)
{
    const char *dir = tmpdir();
    char *content = xasprintf("%s/content", dir);
    char *stats_dir = xasprintf("%s/stats", content);
    mkdir_p(stats_dir);
    char *path = xasprintf("%s/snapshot.sqlite", stats_dir);
    if (raw) write_file_atomic(path, raw, rawlen);
    else {
        sqlite3 *db;
        sqlite3_open(path, &db);
        sqlite3_exec(db, sql, NULL, NULL, NULL);
        sqlite3_close(db);
    }
    free(path);
    free(stats_dir);
    return content;
}

TEST(sqlite_file_loads_read_only)
{
    char *content = make_sqlite(MINI, NULL, 0);
    char *path = xasprintf("%s/stats/snapshot.sqlite", content);
    char *before, *after;
    size_t lb, la;
    read_file(path, &before, &lb);
    diag *d = diag_new();
    stats *s = NULL;
    CHECK(stats_load(content, &s, d) == 0);
    CHECK(s && stats_has_district(s, "b"));
    read_file(path, &after, &la);
    CHECK(lb == la && memcmp(before, after, lb) == 0);   /* never written */
    char hex[65];
    sha256_hex(before, lb, hex);
    CHECK_STR(stats_sha256(s), hex);
    stats_free(s);
    diag_free(d);
    free(before); free(after); free(path);
    cleanup(content);
}

TEST(corrupt_sqlite_file)
{
    const char junk[] = "SQLite format 3\0this is not really a database at all, just junk bytes";
    char *content = make_sqlite(NULL, junk, sizeof junk);
    diag *d = diag_new();
    stats *s = NULL;
    CHECK(stats_load(content, &s, d) == -1);
    CHECK(s == NULL);
    char *m = messages(d);
    CHECK_CONTAINS(m, "snapshot.sqlite: error:");
    CHECK_CONTAINS(m, "database");
    free(m);
    diag_free(d);
    cleanup(content);
}

/* ---------------------------------------------------------- reconciliation */

TEST(reconciliation_match_and_mismatch)
{
    stats *s;
    char *m;
    CHECK(load_with(NULL, "INSERT INTO reported_totals VALUES('city','2020',5,4000000,'doc-a');\n", &s, &m) == 0);
    CHECK_STR(m, "");
    CHECK(stats_mismatches(s) == 0);
    stats_free(s);
    free(m);
    CHECK(load_with(NULL, "INSERT INTO reported_totals VALUES('city','2020',6,4010000,'doc-a');\n", &s, &m) == 0);
    CHECK(stats_mismatches(s) == 1);
    CHECK_CONTAINS(m, "warning: table reported_totals, row (scope=city, period=2020): document 'doc-a' states "
                      "for 某市 2020 4.01万元 (4010000 fen), its 2 districts add up to 4.00万元 (4000000 fen), "
                      "difference 100.00元; 6 enterprises, the districts add up to 5 (difference 1)");
    value *ctx = stats_page_context(s, "stats/refunds/", NULL, NULL, NULL);
    buf j = BUF_INIT;
    value_to_json(&j, ctx);
    CHECK_CONTAINS(j.ptr, "\"mismatch\":true");
    CHECK_CONTAINS(j.ptr, "\"difference_amount\":{\"fen\":10000,\"yuan\":\"100.00\",\"wan\":\"0.01\"}");
    buf_free(&j);
    value_unref(ctx);
    stats_free(s);
    free(m);
}

TEST(sample_snapshot_seed_mismatch)
{
    diag *d = diag_new();
    stats *s = NULL;
    CHECK(stats_load("content", &s, d) == 0);
    CHECK(s != NULL);
    if (!s) { diag_free(d); return; }
    CHECK(stats_mismatches(s) == 1);
    char *m = messages(d);
    CHECK_CONTAINS(m, "document 'qinhuangdao-micro-enterprise-fund-refund' states for 秦皇岛市 2020 431.49万元 (431490000 fen), "
                      "its 7 districts add up to 431.48万元 (431480000 fen), difference 100.00元");
    CHECK(strstr(m, "enterprises") == NULL);   /* 181 = 181 */
    free(m);
    value *ctx = stats_page_context(s, "stats/refunds/", NULL, NULL, NULL);
    buf j = BUF_INIT;
    value_to_json(&j, ctx);
    CHECK_CONTAINS(j.ptr, "\"share\":\"80.6\"");                   /* 开发区 347.76 / 431.48 */
    CHECK_CONTAINS(j.ptr, "\"total\":{\"enterprises\":181,\"amount\":{\"fen\":431480000,"
                          "\"yuan\":\"4,314,800.00\",\"wan\":\"431.48\"}");
    buf_free(&j);
    value_unref(ctx);
    stats_free(s);
    diag_free(d);
}

/* ---------------------------------------------------------- contexts */

TEST(union_building_rate)
{
    stats *s;
    char *m;
    CHECK(load_with(NULL, "INSERT INTO union_building VALUES('b','2021',0,0,NULL,NULL);\n", &s, &m) == 0);
    value *ctx = stats_page_context(s, "districts/a/", NULL, NULL, NULL);
    buf j = BUF_INIT;
    value_to_json(&j, ctx);
    CHECK_CONTAINS(j.ptr, "\"rate\":\"66.7\"");          /* 2 / 3 */
    CHECK_CONTAINS(j.ptr, "\"federations\":\"—\"");
    value_unref(ctx);
    buf_clear(&j);
    ctx = stats_page_context(s, "districts/b/", NULL, NULL, NULL);
    value_to_json(&j, ctx);
    CHECK_CONTAINS(j.ptr, "\"rate\":null");              /* 0 / 0 */
    buf_free(&j);
    value_unref(ctx);
    stats_free(s);
    free(m);
}

TEST(district_context_links)
{
    stats *s;
    char *m;
    CHECK(load_with(NULL, NULL, &s, &m) == 0);
    value *docs = value_map(), *dl = value_list(), *doc = value_map();
    value_set_str(doc, "title", "某文件");
    value_set_str(doc, "url", "/reports/2020/doc-a/");
    value_push(dl, doc);
    value_set(docs, "a", dl);
    value *urls = value_map();
    value_set_str(urls, "doc-a", "/reports/2020/doc-a/");
    value *ctx = stats_page_context(s, "districts/a/", docs, urls, NULL);
    buf j = BUF_INIT;
    value_to_json(&j, ctx);
    CHECK_CONTAINS(j.ptr, "\"breadcrumbs\":[{\"id\":\"city\",\"name\":\"某市\",\"url\":\"/districts/city/\"");
    CHECK_CONTAINS(j.ptr, "\"source\":\"doc-a\",\"source_url\":\"/reports/2020/doc-a/\"");
    CHECK_CONTAINS(j.ptr, "\"documents\":[{\"title\":\"某文件\"");
    CHECK_CONTAINS(j.ptr, "\\u003csvg");   /* JSON escapes < */
    CHECK(stats_page_context(s, "districts/nope/", docs, urls, NULL) == NULL);
    buf_free(&j);
    value_unref(ctx);
    value_unref(docs);
    value_unref(urls);
    stats_free(s);
    free(m);
}

/* ---------------------------------------------------------- data files */

static const char *const DATA[] = {
    "districts.csv", "districts.json", "refunds.csv", "refunds.json", "reported-totals.csv",
    "reported-totals.json", "union-building.csv", "union-building.json", "achievements.csv",
    "achievements.json", "enterprise-refunds.csv", "enterprise-refunds.json", "lookup.json",
};

TEST(data_files_and_privacy)
{
    stats *s;
    char *m;
    CHECK(load_with(NULL, NULL, &s, &m) == 0);
    for (size_t i = 0; i < sizeof DATA / sizeof *DATA; i++) {
        size_t len;
        char *f = stats_data_file(s, DATA[i], &len);
        CHECK(f != NULL);
        if (!f) continue;
        CHECK(strstr(f, "私密联系人") == NULL);
        CHECK(strstr(f, "13900000000") == NULL);
        CHECK(strstr(f, "contact") == NULL);
        free(f);
    }
    size_t len;
    char *csv = stats_data_file(s, "refunds.csv", &len);
    CHECK_STR(csv, "\xEF\xBB\xBFperiod,district_id,district,parent_id,enterprises,amount_fen,amount_yuan,source\r\n"
                   "2020,a,甲区,city,2,1000000,\"10,000.00\",doc-a\r\n"
                   "2020,b,乙区,city,3,3000000,\"30,000.00\",doc-a\r\n");
    free(csv);
    char *lk = stats_data_file(s, "lookup.json", &len);
    CHECK_STR(lk, "[{\"name\":\"一号公司\",\"district_id\":\"a\",\"district\":\"甲区\",\"period\":\"2020\","
                  "\"amount_fen\":50000,\"amount_yuan\":\"500.00\",\"status\":\"refunded\"}]\n");
    free(lk);
    CHECK(stats_data_file(s, "nope.csv", &len) == NULL);
    CHECK(stats_data_file(s, "lookup.csv", &len) == NULL);
    value *ctx = stats_page_context(s, "stats/lookup/", NULL, NULL, NULL);
    buf j = BUF_INIT;
    value_to_json(&j, ctx);
    CHECK(strstr(j.ptr, "私密联系人") == NULL);
    buf_free(&j);
    value_unref(ctx);
    stats_free(s);
    free(m);
}

TEST(hostile_names_escaped)
{
    stats *s;
    char *m;
    CHECK(load_with(NULL,
                    "INSERT INTO enterprises VALUES(2,'<script>alert(1)</script>','b',1,NULL,NULL);\n"
                    "INSERT INTO enterprise_refunds VALUES(2,'2020',1,'pending');\n"
                    "UPDATE districts SET name='''); DROP TABLE districts;--' WHERE id='b';\n",
                    &s, &m) == 0);
    size_t len;
    char *j = stats_data_file(s, "lookup.json", &len);
    CHECK(strstr(j, "<script") == NULL);
    CHECK_CONTAINS(j, "\\u003cscript\\u003e");
    free(j);
    char *c = stats_data_file(s, "enterprise-refunds.csv", &len);
    CHECK_CONTAINS(c, "<script>alert(1)</script>,b,'); DROP TABLE districts;--,2020");
    free(c);
    value *ctx = stats_page_context(s, "stats/refunds/", NULL, NULL, NULL);
    buf b = BUF_INIT;
    value_to_json(&b, ctx);
    /* the chart SVG is raw HTML in the page: its text must be escaped */
    CHECK_CONTAINS(b.ptr, "\\u0026apos;); DROP TABLE");
    buf_free(&b);
    value_unref(ctx);
    stats_free(s);
    free(m);
}

int main(void)
{
    RUN(sha256_fips_vectors);
    RUN(csv_quoting);
    RUN(no_snapshot_is_not_an_error);
    RUN(minimal_snapshot_loads);
    RUN(unknown_district);
    RUN(negative_amount);
    RUN(non_integer_money);
    RUN(dangling_references);
    RUN(bad_status_and_cycle_and_slug);
    RUN(missing_table);
    RUN(missing_column);
    RUN(wrong_schema_version);
    RUN(sql_syntax_error_has_line);
    RUN(dump_cannot_touch_files);
    RUN(runaway_sql_is_stopped);
    RUN(sqlite_file_loads_read_only);
    RUN(corrupt_sqlite_file);
    RUN(reconciliation_match_and_mismatch);
    RUN(sample_snapshot_seed_mismatch);
    RUN(union_building_rate);
    RUN(district_context_links);
    RUN(data_files_and_privacy);
    RUN(hostile_names_escaped);
    return test_summary();
}
