/* alloc.h - the process's allocator, told what is coming.
 *
 * The Makefile links mimalloc as the allocator (MALLOC_LIB); sanitizer,
 * valgrind and fuzz builds keep the toolchain's. What is here tunes
 * mimalloc when it is the one linked, and does nothing otherwise.
 */
#ifndef GAZETTE_ALLOC_H
#define GAZETTE_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

/* Up to this many documents, a build's memory comes in 2 MB pages. */
#define ALLOC_LARGE_PAGES_MAX_DOCS 30000

/* At the start of the process: mimalloc takes its memory from the OS as
 * 2 MB (transparent huge) pages. A 10k full build's page faults fall from
 * ~37k to ~9k and its CPU by ~5%, for ~15% more peak memory (148 -> ~171
 * MB). Returns whether they are on (false without mimalloc). */
bool alloc_start(void);

/* A build of ndocs documents is about to load them: beyond
 * ALLOC_LARGE_PAGES_MAX_DOCS the memory bound matters more (at 100k large
 * pages take peak RSS from ~870 to ~950 MB), and the memory asked for
 * from here on comes in small pages. Returns whether large pages are on. */
bool alloc_expect_docs(size_t ndocs);

#endif
