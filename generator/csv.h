/* csv.h - CSV for the open-data downloads: RFC 4180 quoting, CRLF line
 * ends, UTF-8 with a byte order mark (so spreadsheet programs read the
 * Chinese text as UTF-8).
 *
 *   csv_writer w; csv_begin(&w);
 *   csv_text(&w, "name"); csv_int(&w, 3); csv_end_row(&w);
 *   ... use w.out ..., buf_free(&w.out);
 *
 * Fields are separated automatically (the writer counts the row's fields).
 *
 * Text fields starting with = + - @ (formula triggers in spreadsheets,
 * "CSV injection") are prefixed with a single quote; numbers are written
 * with csv_int and never altered. */
#ifndef GAZETTE_CSV_H
#define GAZETTE_CSV_H

#include "util.h"

typedef struct {
    buf out;        /* the file's bytes; owned, caller frees */
    int ncol;       /* fields written in the current row */
} csv_writer;

void csv_begin(csv_writer *w);                    /* init + the BOM */
void csv_text(csv_writer *w, const char *s);      /* NULL = empty field */
void csv_int(csv_writer *w, long long v);
void csv_raw(csv_writer *w, const char *s);       /* known not to need quoting */
void csv_end_row(csv_writer *w);                  /* "\r\n" */

#endif
