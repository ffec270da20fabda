/* stats.h - the stats half of the site, from the SQLite snapshot.
 *
 * The snapshot (contract: content/stats/README.md, schema_version 1) is
 * content/stats/snapshot.sqlite (opened read-only and immutable: the
 * generator never writes it) or content/stats/snapshot.sql, a text dump
 * loaded into an in-memory database (only CREATE/INSERT-style statements;
 * ATTACH, VACUUM and load_extension are refused). Having both is an error;
 * having neither means no stats pages (not an error).
 *
 * stats_load() reads everything into memory and validates it with explicit
 * queries (every reference checked, not PRAGMA foreign_keys): missing
 * tables/columns, schema_version != '1', unknown district ids, dangling
 * enterprise/parent references, parent cycles, negative or non-integer
 * figures, unknown refund statuses, corrupt files and SQL syntax errors.
 * Each problem is one diag error naming the file (and for .sql dumps the
 * line of the INSERT), the table and the row, e.g.
 *   content/stats/snapshot.sql:42: table refund_tallies, row (district_id=x,
 *   period=2020): unknown district 'x'
 * Reconciliation also runs at load time: where reported_totals states a
 * total for a scope and period and it differs from the sum of the
 * refund_tallies of the scope's children in that period, a diag warning
 * names the source document and both figures (strict mode fails on it).
 *
 * Privacy: enterprises.contact_name and contact_phone are never SELECTed.
 *
 * stats_write() renders (templates, each a page body using the layout):
 *   stats            /stats/                  overview, totals, downloads
 *   stats-refunds    /stats/refunds/          one table + chart per period
 *                                             and top-level body
 *   lookup           /stats/lookup/           enterprise refund lookup
 *   districts        /districts/              the district tree
 *   district         /districts/ID/           one district
 * and data files /stats/{districts,refunds,reported-totals,union-building,
 * achievements,enterprise-refunds}.{csv,json} and /stats/lookup.json.
 */
#ifndef GAZETTE_STATS_H
#define GAZETTE_STATS_H

#include <stdbool.h>
#include "diag.h"
#include "render.h"
#include "value.h"

typedef struct stats stats;

/* Load and validate content_dir/stats/snapshot.{sqlite,sql}.
 * Returns 0 with *out set (NULL when there is no snapshot), or -1 with
 * errors in d and *out NULL. Reconciliation mismatches are warnings. */
int stats_load(const char *content_dir, stats **out, diag *d);
void stats_free(stats *s);

/* Hex SHA-256 of the snapshot file's bytes (64 chars). */
const char *stats_sha256(const stats *s);
/* Path of the snapshot file as given to diagnostics. */
const char *stats_path(const stats *s);

bool stats_has_district(const stats *s, const char *id);
/* Display name, or NULL for an unknown id. */
const char *stats_district_name(const stats *s, const char *id);
/* Number of reconciliation mismatches found at load time. */
size_t stats_mismatches(const stats *s);

/* Write every stats page and data file.
 *   docs_by_district: map district id -> list of document summary maps
 *     {title, url, date, doc_number} (borrowed; NULL = none)
 *   doc_urls_by_slug: map document slug -> url, e.g.
 *     "qinhuangdao-refund-2020" -> "/reports/2020/qinhuangdao-refund-2020/"
 *     used to link figures to their source documents (borrowed; NULL =
 *     no links). A source slug not in the map is a warning.
 * Returns 0 or -1 (errors in d). */
int stats_write(stats *s, renderer *r, const value *docs_by_district,
                const value *doc_urls_by_slug, diag *d);

/* The context stats_write renders for one page, by path: "stats/",
 * "stats/refunds/", "stats/lookup/", "districts/" or "districts/ID/".
 * For tests and for other pages that want stats figures. Each list key K
 * comes with a bool has_K (Mustache cannot test a list for emptiness);
 * money is {fen, yuan: "4,314,900.00", wan: "431.49"}. The keys are listed
 * at the top of each templates/stats*.mustache / district*.mustache /
 * lookup.mustache. Returns a new reference, NULL for no such page. */
value *stats_page_context(stats *s, const char *page, const value *docs_by_district,
                          const value *doc_urls_by_slug, diag *d);

/* Data files as bytes: name like "refunds.csv" or "lookup.json"; returns
 * a malloc'd buffer (caller frees) or NULL for an unknown name. */
char *stats_data_file(stats *s, const char *name, size_t *len);

#endif
