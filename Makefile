# Gazette - static site generator and archive publisher.
#
#   make            build build/gazette
#   make site       install missing packages, build, render and release content/ into site/
#   make test       install missing packages, build, run every test
#   make test-asan  the same tests, built with AddressSanitizer + UBSan
#   make test-valgrind  the end-to-end commands under valgrind memcheck
#   make bench      benchmarks against Hugo (not part of make test)
#   make fuzz       bounded libFuzzer runs
#
# Sources are picked up by wildcard: generator/*.c is the program,
# tests/unit/test_*.c are unit tests (one binary each), tests/e2e/*.sh are
# end-to-end tests. Adding a module or a test needs no edit here.

BUILD    ?= build
CC       ?= cc
OPT      ?= -O2
CFLAGS   ?= $(OPT) -g
PKGS     := libcmark-gfm yaml-0.1 sqlite3 libgit2 jansson libmicrohttpd libxxhash zlib
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS  = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter \
              -Wshadow -Wstrict-prototypes -Igenerator -I$(BUILD)/gen \
              $(PKG_CFLAGS) $(CFLAGS) -MMD -MP
LDLIBS      = -lcmark-gfm-extensions $(PKG_LIBS) -lpthread -lm
# The program's allocator: mimalloc (Debian's libmimalloc-dev), linked first
# so that its malloc serves every library too. A 10k build takes ~8% less
# CPU than with glibc's malloc, and peak RSS at 100k is no higher
# (BENCHMARKS.md, the seventh session). Sanitizer and fuzz builds keep the
# toolchain's allocator (MALLOC_LIB=); valgrind replaces it as it does
# glibc's (its preload comes first). --no-as-needed: a linker that drops
# unreferenced libraries (Ubuntu's default, or with -flto) would drop it,
# since nothing names it; its malloc replaces glibc's by being loaded.
MALLOC_LIB ?= -Wl,--push-state,--no-as-needed -lmimalloc -Wl,--pop-state
SHARED   ?= $(abspath ../shared)

SRC      := $(wildcard generator/*.c)
LIBSRC   := $(filter-out generator/main.c,$(SRC))
LIBOBJ   := $(LIBSRC:generator/%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/theme_data.o
THEME    := $(shell find templates -type f 2>/dev/null | LC_ALL=C sort)
UNIT     := $(wildcard tests/unit/test_*.c)
UNITBIN  := $(UNIT:tests/unit/%.c=$(BUILD)/tests/%)
SPECBIN  := $(BUILD)/tests/mustache_spec

.PHONY: all deps test-deps site test test-asan test-valgrind bench fuzz clean
all: $(BUILD)/gazette

deps:
	@bash generator/tools/deps.sh build

test-deps:
	@bash generator/tools/deps.sh test

$(BUILD)/obj/%.o: generator/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/tools/embed: generator/tools/embed.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 -Wall -Wextra $< -o $@

# The default theme (everything under templates/) is compiled into the binary.
$(BUILD)/gen/theme_data.c: $(BUILD)/tools/embed $(THEME)
	@mkdir -p $(dir $@)
	$(BUILD)/tools/embed templates $(THEME) > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/theme_data.o: $(BUILD)/gen/theme_data.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# $(BUILD)/malloc names the allocator linked, for the tests (e2e:build).
$(BUILD)/gazette: $(LIBOBJ) $(BUILD)/obj/main.o
	$(CC) $(CFLAGS) $^ -o $@ $(MALLOC_LIB) $(LDLIBS)
	@echo $(if $(strip $(MALLOC_LIB)),mimalloc,system) > $(BUILD)/malloc

$(BUILD)/tests/test_%: tests/unit/test_%.c tests/unit/test.h $(LIBOBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit $< $(LIBOBJ) -o $@ $(LDLIBS)

# test_alloc runs on the allocator the program links: it is what alloc.c tunes.
$(BUILD)/tests/test_alloc: tests/unit/test_alloc.c tests/unit/test.h $(LIBOBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit -DLINKED_MIMALLOC=$(if $(strip $(MALLOC_LIB)),1,0) $< $(LIBOBJ) \
	  -o $@ $(MALLOC_LIB) $(LDLIBS)

$(SPECBIN): tests/spec/mustache_spec.c $(LIBOBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $< $(LIBOBJ) -o $@ $(LDLIBS)

site: deps
	@$(MAKE) --no-print-directory all
	$(BUILD)/gazette release --content content --out site

test: deps test-deps
	@$(MAKE) --no-print-directory all $(UNITBIN) $(SPECBIN)
	@SHARED=$(SHARED) bash tests/run.sh $(BUILD)

test-asan: deps test-deps
	@$(MAKE) --no-print-directory BUILD=build-asan OPT=-O1 MALLOC_LIB= \
	  CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  all build-asan/tests/mustache_spec $(UNIT:tests/unit/%.c=build-asan/tests/%)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  SHARED=$(SHARED) bash tests/run.sh build-asan

test-valgrind: deps
	@$(MAKE) --no-print-directory all $(UNITBIN)
	@command -v valgrind >/dev/null || apt-get install -y -qq valgrind >/dev/null
	@SHARED=$(SHARED) bash tests/valgrind.sh $(BUILD)

bench: deps
	@$(MAKE) --no-print-directory all
	@SHARED=$(SHARED) bash tests/bench/run.sh $(BUILD)

fuzz: deps
	@SHARED=$(SHARED) bash tests/fuzz/run.sh

clean:
	rm -rf build build-asan build-fuzz

-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/tests/*.d)
