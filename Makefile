# blackbox: build, test, install, demo.
#
#   make              build bbx, the recorder library (static and shared) and the examples
#   make deps         install the Debian packages of the build, the tool and the tests (as root),
#                     or print the command (tools/deps.sh lists them, with who needs each)
#   make demo         the main job: record a real workload, analyse it, convert it
#   make test         every suite below; the last line is "N passed, M failed"
#     test-unit         doctest suites (format, recorder, decoder, converters)
#     test-golden       the spec's test vectors in tests/golden/
#     test-outputs      every verb's output for real captures, pinned in tests/outputs/
#     test-hostile      crafted inputs (LZ4 bombs, FIFOs, stdin, escapes, huge lengths, cut
#                       files) through every verb: exit 0/1 with a message, bounded memory, no hang
#     test-gating       a compiled-out event (C++ and C) leaves no code and no strings
#     test-cli          the bbx command line: help texts, exit codes, messages
#     test-top          bbx top on the demo service hung in deadlock mode, in tmux (screen
#                       read with capture-pane), and --once / --json while it runs and after
#     test-fuzz-replay  every fuzz corpus file through the fuzz entry points
#     test-bench-smoke  each benchmark binary runs a tiny iteration count
#     test-arch         captures recorded on x86-64 and on aarch64 decode as recorded (tests/arch/)
#     test-install      `make install` into a temporary DESTDIR, then programs built against it:
#                       CMake find_package, pkg-config, the C API, the shared library
#   make install      PREFIX=/usr/local DESTDIR= (LIBDIR, BINDIR, INCLUDEDIR, MANDIR): headers,
#                     libbbx_recorder.a and .so, bbx, bbx(1), blackbox.pc, the CMake package
#   make uninstall    remove what `make install` installed (same variables)
#   make bench        hot-path benchmark (prints a table; never part of test)
#   make test-asan    everything built with ASan + UBSan into build-asan/, then the unit, golden,
#                     outputs, cli and fuzz-replay suites on it (all but Asio's example programs,
#                     whose sanitized build alone took over 30 minutes on 2 cores: their test skips)
#   make test-tsan    recorder, decoder and a stress test (2-8 writers, a concurrent reader) built
#                     with TSan into build-tsan/, and run (TSAN_SECONDS per phase, 6 phases)
#   make test-aarch64 recorder, decoder and tests cross-built with aarch64-linux-gnu-g++ into
#                     build-aarch64/, then the unit, golden, cli and arch suites under qemu-aarch64
#   make fuzz         each fuzz target for FUZZ_SECONDS (default 60) with ASan + UBSan (fuzz/fuzz.mk;
#                     needs clang and libclang-rt-14-dev)
#   make clean
#
# `make`, `make demo` and `make test` first look for what they need (tools/deps.sh: headers with
# the compiler, tools with command -v); `make demo` and `make test` install what is missing when
# run as root on Debian, and otherwise print the command. Every build runs on all cores unless
# -j is given. CXX=clang++ builds with clang; MOREFLAGS adds flags for one run.

CXX ?= g++
# The C compiler that goes with CXX (gcc with g++, clang with clang++, the cross gcc
# with the cross g++), unless CC is given.
ifeq ($(origin CC),default)
CC := $(subst g++,gcc,$(subst clang++,clang,$(CXX)))
endif
CXXFLAGS ?= -O2 -g
MOREFLAGS ?=
WARN := -Wall -Wextra -Wshadow -Wnon-virtual-dtor -Woverloaded-virtual -Wformat=2 -Wcast-qual -Wundef
ALLFLAGS := -std=c++20 $(WARN) $(CXXFLAGS) $(MOREFLAGS) -MMD -MP
B := build
INC := -Iformat/include -I$(B)/gen

# All cores unless the command line says otherwise (make 4.3 reads a -j added
# here; a -j on the command line wins). Only at the top: a recursive make
# shares the top one's jobs.
ifeq ($(MAKELEVEL)$(filter -j% --jobs%,$(MAKEFLAGS)),0)
MAKEFLAGS += -j$(shell nproc 2>/dev/null || echo 1)
endif

# The release and the ABI of libbbx_recorder.so. SOVERSION changes only when
# the ABI breaks: an exported symbol changes, or the slot layout that the
# inline hot path writes (bbx/format.hpp) does. 2: format 2.0's 16-byte slots
# (a program built against 1's headers writes 1.4 slots into a 2.0 file).
VERSION := 2.0.0
SOVERSION := 2

DEPS := CXX="$(CXX)" CC="$(CC)" sh tools/deps.sh

GEN := $(B)/gen/bbx_meta_generated.h
REC_SRC := $(wildcard recorder/src/*.cpp)
DEC_SRC := $(wildcard decoder/src/*.cpp)
TEST_SRC := $(wildcard tests/*.cpp) $(wildcard tests/*.c)
REC_OBJ := $(REC_SRC:%.cpp=$(B)/obj/%.o)
DEC_OBJ := $(DEC_SRC:%.cpp=$(B)/obj/%.o)
TEST_OBJ := $(patsubst %.c,$(B)/obj/%.o,$(TEST_SRC:%.cpp=$(B)/obj/%.o))

BBX := $(B)/bbx
LIBREC := $(B)/libbbx_recorder.a
LIBREC_SO := $(B)/libbbx_recorder.so.$(VERSION)
LIBDEC := $(B)/libbbx_decoder.a
EXAMPLES := $(B)/examples/pipeline $(B)/examples/async/service
UNIT := $(B)/tests/unit
CRASH_CHILD := $(B)/tests/crash_child
# (defined before the rules that name it: prerequisites expand as they are read)
STALL_CHILD := $(B)/tests/stall_child $(B)/tests/stall_child_fp
RPC_PEER := $(B)/tests/rpc_peer
ARCH_RECORD := $(B)/tests/arch_record
HOSTILE := $(B)/tests/hostile

# The recorder's objects go into both libraries: position-independent, and
# exporting only what bbx/common.h's BBX_API marks (the version script also
# keeps the C++ runtime's inline functions out of the shared library's ABI).
# The thread-locals keep the compiler's TLS model: an executable's code
# reaches them initial-exec; a shared object's, and the library's own (the C
# API's path in libbbx_recorder.so), general-dynamic through __tls_get_addr,
# which bench/RESULTS.md measures at 1.00-1.01x the floor and which keeps the
# library loadable by dlopen (initial-exec would not: its 2.8 KiB of TLS is
# more than glibc keeps for that). TLS descriptors (-mtls-dialect=gnu2) were
# measured too, and were slower here (1.03-1.04x).
REC_FLAGS := -fPIC -fvisibility=hidden -fvisibility-inlines-hidden
REC_LIBS := -llz4 -lpthread

.PHONY: all build deps check-deps demo test test-unit test-golden test-outputs test-hostile test-gating test-cli test-top test-fuzz-replay \
        test-bench-smoke test-arch test-install install uninstall bench clean
all: check-deps
	@$(MAKE) --no-print-directory build

build: $(BBX) $(LIBREC) $(LIBREC_SO) $(EXAMPLES)

# Asio's example servers and a Beast server, traced (ASIO_PROGRAMS; tests/asio.mk)
include tests/asio.mk

deps:
	@$(DEPS) install build tool test

check-deps:
	@$(DEPS) check build tool

$(GEN): format/bbx_meta.fbs
	@mkdir -p $(@D)
	flatc --cpp --scoped-enums -o $(@D) $<

$(B)/obj/recorder/%.o: recorder/%.cpp $(GEN)
	@mkdir -p $(@D)
	$(CXX) $(ALLFLAGS) $(REC_FLAGS) $(INC) -Irecorder/include -c $< -o $@

$(B)/obj/decoder/%.o: decoder/%.cpp $(GEN)
	@mkdir -p $(@D)
	$(CXX) $(ALLFLAGS) $(INC) -Idecoder/include -c $< -o $@

$(B)/obj/tests/%.o: tests/%.cpp $(GEN)
	@mkdir -p $(@D)
	$(CXX) $(ALLFLAGS) $(INC) -Irecorder/include -Idecoder/include -c $< -o $@

# C files of the tests: the C API compiled as C11.
$(B)/obj/tests/%.o: tests/%.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -Wall -Wextra -Wpedantic $(CXXFLAGS) $(MOREFLAGS) -MMD -MP -Irecorder/include -c $< -o $@

$(B)/obj/examples/%.o: examples/%.cpp $(GEN)
	@mkdir -p $(@D)
	$(CXX) $(ALLFLAGS) $(INC) -Irecorder/include -c $< -o $@

$(LIBREC): $(REC_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

# libbbx_recorder.so.1 -> libbbx_recorder.so.1.0.0, and the link-time name libbbx_recorder.so.
$(LIBREC_SO): $(REC_OBJ) recorder/libbbx_recorder.map
	$(CXX) $(ALLFLAGS) -shared -Wl,-soname,libbbx_recorder.so.$(SOVERSION) \
	    -Wl,--version-script=recorder/libbbx_recorder.map -Wl,-z,defs -o $@ $(REC_OBJ) $(REC_LIBS)
	ln -sf $(@F) $(B)/libbbx_recorder.so.$(SOVERSION)
	ln -sf libbbx_recorder.so.$(SOVERSION) $(B)/libbbx_recorder.so
# The links are up to date when the file is (make follows them).
$(B)/libbbx_recorder.so $(B)/libbbx_recorder.so.$(SOVERSION): $(LIBREC_SO)
	@:

$(LIBDEC): $(DEC_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

# mimalloc is linked first so that it replaces malloc for the whole tool.
$(BBX): $(B)/obj/decoder/tool/main.o $(LIBDEC)
	$(CXX) $(ALLFLAGS) -o $@ $^ -lmimalloc -llz4

$(B)/examples/%: $(B)/obj/examples/%.o $(LIBREC)
	@mkdir -p $(@D)
	$(CXX) $(ALLFLAGS) -o $@ $^ -llz4 -lpthread

$(UNIT): $(TEST_OBJ) $(LIBREC) $(LIBDEC) | $(CRASH_CHILD) $(EXAMPLES) $(RPC_PEER) $(STALL_CHILD) $(ASIO_PROGRAMS)
	@mkdir -p $(@D)
	$(CXX) $(ALLFLAGS) -o $@ $^ -llz4 -lpthread

# The program tests/test_crash.cpp runs, crashes and kills (next to the unit binary).
$(CRASH_CHILD): $(B)/obj/tests/programs/crash_child.o $(LIBREC)
	@mkdir -p $(@D)
	$(CXX) $(ALLFLAGS) -o $@ $^ -llz4 -lpthread

# The client and server tests/test_merge.cpp runs and merges (next to the unit binary).
$(RPC_PEER): $(B)/obj/tests/programs/rpc_peer.o $(LIBREC)
	@mkdir -p $(@D)
	$(CXX) $(ALLFLAGS) -o $@ $^ -llz4 -lpthread

# The program tests/test_stall.cpp samples, as built and with frame pointers.
$(B)/tests/stall_child: $(B)/obj/tests/programs/stall_child.o $(LIBREC)
	@mkdir -p $(@D)
	$(CXX) $(ALLFLAGS) -o $@ $^ -llz4 -lpthread
$(B)/tests/stall_child_fp: tests/programs/stall_child.cpp $(LIBREC)
	@mkdir -p $(@D)
	$(CXX) $(ALLFLAGS) -fno-omit-frame-pointer $(INC) -Irecorder/include -o $@ $< $(LIBREC) -llz4 -lpthread

# The hostile-input suite (tests/hostile/hostile.cpp): makes its cases, runs bbx on each.
$(HOSTILE): $(B)/obj/tests/hostile/hostile.o $(LIBREC)
	@mkdir -p $(@D)
	$(CXX) $(ALLFLAGS) -o $@ $^ -llz4 -lpthread

# The program whose captures tests/arch/ keeps, one per architecture (tests/arch/record.sh).
$(ARCH_RECORD): $(B)/obj/tests/arch/record.o $(LIBREC)
	@mkdir -p $(@D)
	$(CXX) $(ALLFLAGS) -o $@ $^ -llz4 -lpthread

# What `make test` builds before it runs the suites.
TEST_BUILD := $(BBX) $(UNIT) $(EXAMPLES) $(CRASH_CHILD) $(STALL_CHILD) $(HOSTILE) $(LIBREC) $(LIBREC_SO)

demo:
	@$(DEPS) ensure build tool
	@$(MAKE) --no-print-directory $(BBX) $(EXAMPLES) $(RPC_PEER)
	@sh examples/demo.sh $(B)

test:
	@$(DEPS) ensure build tool test
	@$(MAKE) --no-print-directory $(TEST_BUILD)
	@CXX="$(CXX)" CC="$(CC)" sh tests/run.sh $(B)

test-unit: check-deps
	@$(MAKE) --no-print-directory $(UNIT) $(STALL_CHILD)
	@sh tests/run.sh $(B) unit
test-golden: check-deps
	@$(MAKE) --no-print-directory $(BBX)
	@sh tests/run.sh $(B) golden
test-outputs: check-deps
	@$(MAKE) --no-print-directory $(BBX)
	@sh tests/run.sh $(B) outputs
test-hostile: check-deps
	@$(MAKE) --no-print-directory $(BBX) $(HOSTILE)
	@sh tests/run.sh $(B) hostile
test-gating:
	@CXX="$(CXX)" CC="$(CC)" sh tests/run.sh $(B) gating
test-cli: check-deps
	@$(MAKE) --no-print-directory $(BBX) $(EXAMPLES)
	@sh tests/run.sh $(B) cli
test-top: check-deps
	@$(MAKE) --no-print-directory $(BBX) $(EXAMPLES)
	@sh tests/run.sh $(B) top
test-fuzz-replay: check-deps
	@$(MAKE) --no-print-directory $(BBX)
	@sh tests/run.sh $(B) fuzz-replay
test-bench-smoke: check-deps
	@sh tests/run.sh $(B) bench-smoke
test-arch: check-deps
	@$(MAKE) --no-print-directory $(BBX)
	@sh tests/run.sh $(B) arch
test-install: check-deps
	@$(MAKE) --no-print-directory $(BBX) $(LIBREC) $(LIBREC_SO)
	@CXX="$(CXX)" CC="$(CC)" sh tests/run.sh $(B) install

bench: check-deps
	@$(MAKE) --no-print-directory $(LIBREC) $(LIBREC_SO)
	@$(MAKE) --no-print-directory -f bench/bench.mk B=$(B) run

# ---- install -------------------------------------------------------------------------
# GNU's directory variables. On Debian, PREFIX=/usr takes LIBDIR=/usr/lib/$(multiarch), e.g.
# LIBDIR=/usr/lib/x86_64-linux-gnu. DESTDIR stages the whole tree under another root.
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
CMAKEDIR ?= $(LIBDIR)/cmake/blackbox
# What a user's program includes: the recorder's headers and the format they write.
HEADERS := $(sort $(shell cd recorder/include && find bbx -name '*.h' -o -name '*.hpp')) bbx/format.hpp
# The package files locate the rest from where they are installed, so a staged tree works too.
PC_LIBDIR = $(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))
PC_INCLUDEDIR = $(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))
CMAKE_TO_INCLUDE = $(shell realpath -m --relative-to=$(CMAKEDIR) $(INCLUDEDIR))
CMAKE_TO_LIB = $(shell realpath -m --relative-to=$(CMAKEDIR) $(LIBDIR))
SUBST = sed -e 's|@VERSION@|$(VERSION)|g' -e 's|@VERSION_MAJOR@|$(firstword $(subst ., ,$(VERSION)))|g' \
            -e 's|@SOVERSION@|$(SOVERSION)|g' -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(PC_LIBDIR)|g' \
            -e 's|@INCLUDEDIR@|$(PC_INCLUDEDIR)|g' -e 's|@CMAKE_TO_INCLUDE@|$(CMAKE_TO_INCLUDE)|g' \
            -e 's|@CMAKE_TO_LIB@|$(CMAKE_TO_LIB)|g'

install: $(BBX) $(LIBREC) $(LIBREC_SO)
	@set -e; for h in $(HEADERS); do \
	    case $$h in bbx/format.hpp) from=format/include/$$h ;; *) from=recorder/include/$$h ;; esac; \
	    echo "install -D -m 644 $$from $(DESTDIR)$(INCLUDEDIR)/$$h"; install -D -m 644 $$from $(DESTDIR)$(INCLUDEDIR)/$$h; \
	done
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(CMAKEDIR)
	install -m 644 $(LIBREC) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(LIBREC_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf libbbx_recorder.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libbbx_recorder.so.$(SOVERSION)
	ln -sf libbbx_recorder.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libbbx_recorder.so
	install -m 755 $(BBX) $(DESTDIR)$(BINDIR)/bbx
	install -m 644 decoder/tool/bbx.1 $(DESTDIR)$(MANDIR)/man1/bbx.1
	$(SUBST) recorder/install/blackbox.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/blackbox.pc
	$(SUBST) recorder/install/blackboxConfig.cmake.in > $(DESTDIR)$(CMAKEDIR)/blackboxConfig.cmake
	$(SUBST) recorder/install/blackboxConfigVersion.cmake.in > $(DESTDIR)$(CMAKEDIR)/blackboxConfigVersion.cmake
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null 2>&1; then ldconfig; fi

uninstall:
	rm -f $(addprefix $(DESTDIR)$(INCLUDEDIR)/,$(HEADERS))
	-find $(DESTDIR)$(INCLUDEDIR)/bbx -depth -type d -empty -delete 2>/dev/null
	rm -f $(DESTDIR)$(LIBDIR)/libbbx_recorder.a $(DESTDIR)$(LIBDIR)/libbbx_recorder.so \
	    $(DESTDIR)$(LIBDIR)/libbbx_recorder.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libbbx_recorder.so.$(VERSION)
	rm -f $(DESTDIR)$(BINDIR)/bbx $(DESTDIR)$(MANDIR)/man1/bbx.1 $(DESTDIR)$(PKGCONFIGDIR)/blackbox.pc
	rm -f $(DESTDIR)$(CMAKEDIR)/blackboxConfig.cmake $(DESTDIR)$(CMAKEDIR)/blackboxConfigVersion.cmake
	-rmdir $(DESTDIR)$(CMAKEDIR) 2>/dev/null
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null 2>&1; then ldconfig; fi

# ---- sanitizers and fuzzing ------------------------------------------------------------
# test-asan builds with $(CXX) (g++ or clang++):
# - -fno-sanitize=null: the crash tests write through a null pointer on purpose
#   (tests/programs/crash_child.cpp, tests/test_otlp.cpp), and g++ 12 miscompiles
#   that check on a thread_local's address (a false "member access within null
#   pointer" in test_asio). A real null dereference still crashes the test.
# - clang: -fno-sanitize=function, which clang 14 cannot compile in coroutines
#   (llvm-project#49689); g++: -Wno-maybe-uninitialized, false positives of
#   libstdc++'s <regex> under the sanitizers.
# - ASAN_OPTIONS handle_*=0: the crash child's signals go to its own handler, as
#   without ASan. tests/lsan.supp lists the leaks that are on purpose.
ASAN_B := build-asan
TSAN_B := build-tsan
SAN_CLANG = $(findstring clang,$(shell $(CXX) --version 2>/dev/null | head -n 1))
ASAN_FLAGS = -fsanitize=address,undefined -fno-sanitize=null -fno-sanitize-recover=all -fno-omit-frame-pointer \
             $(if $(SAN_CLANG),-fno-sanitize=function,-Wno-maybe-uninitialized)
ASAN_ENV := ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0:handle_abort=0 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0
# test-tsan builds with clang++: g++ 12's TSan runtime misses a race between
# memcpy and an atomic store (clang's reports it). TSAN_CXX=g++ builds with
# -Wno-tsan: g++ warns that TSan does not model atomic_thread_fence, and the
# fences of the slot protocol only order accesses that are all atomic, which
# TSan checks anyway; whether a torn slot is ever taken as valid is what the
# stress test's own checks catch.
TSAN_CXX ?= clang++
TSAN_FLAGS = -fsanitize=thread $(if $(findstring clang,$(shell $(TSAN_CXX) --version 2>/dev/null | head -n 1)),,-Wno-tsan)
TSAN_SECONDS ?= 1
TSAN_ENV := TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
TSAN_STRESS := $(B)/tests/tsan_stress
FUZZ_SECONDS ?= 60

.PHONY: test-asan test-tsan test-aarch64 fuzz
test-asan: check-deps
	@$(MAKE) --no-print-directory B=$(ASAN_B) MOREFLAGS="$(MOREFLAGS) $(ASAN_FLAGS)" \
	    ASIO_PROGRAMS= $(patsubst $(B)/%,$(ASAN_B)/%,$(BBX) $(UNIT) $(EXAMPLES) $(STALL_CHILD))
	@$(ASAN_ENV) CXX="$(CXX)" MOREFLAGS="$(MOREFLAGS) $(ASAN_FLAGS)" sh tests/run.sh $(ASAN_B) unit golden outputs cli fuzz-replay

# The stress program is built only here, never by `make test`.
$(TSAN_STRESS): $(B)/obj/tests/stress/tsan_stress.o $(LIBREC) $(LIBDEC)
	@mkdir -p $(@D)
	$(CXX) $(ALLFLAGS) -o $@ $^ -llz4 -lpthread -ldl

test-tsan: check-deps
	@$(MAKE) --no-print-directory B=$(TSAN_B) CXX=$(TSAN_CXX) MOREFLAGS="$(MOREFLAGS) $(TSAN_FLAGS)" $(TSAN_B)/tests/tsan_stress
	$(TSAN_ENV) $(TSAN_B)/tests/tsan_stress $(TSAN_SECONDS)

fuzz: check-deps
	@$(DEPS) ensure fuzz
	@$(MAKE) --no-print-directory -f fuzz/fuzz.mk B=$(B) fuzz FUZZ_SECONDS=$(FUZZ_SECONDS)

# ---- aarch64 ---------------------------------------------------------------------------
# A cross build with Debian's g++-aarch64-linux-gnu (LZ4, mimalloc and the C++ runtime from
# the arm64 architecture), run under qemu-user: tests/aarch64.sh runs the suites through
# wrappers that start each binary under qemu-aarch64.
AARCH64_B := build-aarch64
CROSS_CXX ?= aarch64-linux-gnu-g++
test-aarch64:
	@CROSS_CXX=$(CROSS_CXX) $(DEPS) ensure build test aarch64
	@$(MAKE) --no-print-directory B=$(AARCH64_B) CXX=$(CROSS_CXX) AR=$(subst g++,ar,$(CROSS_CXX)) ASIO_PROGRAMS= \
	    $(patsubst $(B)/%,$(AARCH64_B)/%,$(BBX) $(UNIT) $(EXAMPLES) $(STALL_CHILD))
	@sh tests/aarch64.sh $(AARCH64_B)

clean:
	rm -rf $(B)

# Keep objects make would otherwise delete as intermediate files.
.SECONDARY:

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
