# blackbox: build, test, demo.
#
#   make              build bbx, the recorder library and the examples
#   make deps         install the Debian packages that are missing (as root), or print the command
#   make demo         the main job: record a real workload, analyse it, convert it
#   make test         every suite below; the last line is "N passed, M failed"
#     test-unit         doctest suites (format, recorder, decoder, converters)
#     test-golden       the spec's test vectors in tests/golden/
#     test-outputs      every verb's output for real captures, pinned in tests/outputs/
#     test-hostile      crafted inputs (LZ4 bombs, FIFOs, stdin, escapes, huge lengths, cut
#                       files) through every verb: exit 0/1 with a message, bounded memory, no hang
#     test-gating       a compiled-out event leaves no code and no strings
#     test-fuzz-replay  every fuzz corpus file through the fuzz entry points
#     test-bench-smoke  each benchmark binary runs a tiny iteration count
#   make bench        hot-path benchmark (prints a table; never part of test)
#   make test-asan    everything built with ASan + UBSan into build-asan/, then the unit, golden,
#                     outputs, cli and fuzz-replay suites on it
#   make test-tsan    recorder, decoder and a stress test (2-8 writers, a concurrent reader) built
#                     with TSan into build-tsan/, and run (TSAN_SECONDS per phase, 6 phases)
#   make fuzz         each fuzz target for FUZZ_SECONDS (default 60) with ASan + UBSan (fuzz/fuzz.mk;
#                     needs clang and libclang-rt-14-dev)
#   make clean
#
# CXX=clang++ builds with clang; MOREFLAGS adds flags for one run.

CXX ?= g++
CXXFLAGS ?= -O2 -g
MOREFLAGS ?=
WARN := -Wall -Wextra -Wshadow -Wnon-virtual-dtor -Woverloaded-virtual -Wformat=2 -Wcast-qual -Wundef
ALLFLAGS := -std=c++20 $(WARN) $(CXXFLAGS) $(MOREFLAGS) -MMD -MP
B := build
INC := -Iformat/include -I$(B)/gen

DEB_PACKAGES := flatbuffers-compiler libflatbuffers-dev liblz4-dev libmimalloc-dev doctest-dev libbenchmark-dev libasio-dev python3 \
                libasio-doc libboost-dev

GEN := $(B)/gen/bbx_meta_generated.h
REC_SRC := $(wildcard recorder/src/*.cpp)
DEC_SRC := $(wildcard decoder/src/*.cpp)
TEST_SRC := $(wildcard tests/*.cpp)
REC_OBJ := $(REC_SRC:%.cpp=$(B)/obj/%.o)
DEC_OBJ := $(DEC_SRC:%.cpp=$(B)/obj/%.o)
TEST_OBJ := $(TEST_SRC:%.cpp=$(B)/obj/%.o)

BBX := $(B)/bbx
LIBREC := $(B)/libbbx_recorder.a
LIBDEC := $(B)/libbbx_decoder.a
EXAMPLES := $(B)/examples/pipeline $(B)/examples/async/service
UNIT := $(B)/tests/unit
CRASH_CHILD := $(B)/tests/crash_child
RPC_PEER := $(B)/tests/rpc_peer
HOSTILE := $(B)/tests/hostile

.PHONY: all deps check-deps demo test test-unit test-golden test-outputs test-hostile test-gating test-fuzz-replay test-bench-smoke bench clean
all: check-deps $(BBX) $(LIBREC) $(EXAMPLES)

# Asio's example servers and a Beast server, traced (ASIO_PROGRAMS; tests/asio.mk)
include tests/asio.mk

deps:
	@sh tools/deps.sh install $(DEB_PACKAGES)

check-deps:
	@sh tools/deps.sh check $(DEB_PACKAGES)

$(GEN): format/bbx_meta.fbs
	@mkdir -p $(@D)
	flatc --cpp --scoped-enums -o $(@D) $<

$(B)/obj/recorder/%.o: recorder/%.cpp $(GEN)
	@mkdir -p $(@D)
	$(CXX) $(ALLFLAGS) $(INC) -Irecorder/include -c $< -o $@

$(B)/obj/decoder/%.o: decoder/%.cpp $(GEN)
	@mkdir -p $(@D)
	$(CXX) $(ALLFLAGS) $(INC) -Idecoder/include -c $< -o $@

$(B)/obj/tests/%.o: tests/%.cpp $(GEN)
	@mkdir -p $(@D)
	$(CXX) $(ALLFLAGS) $(INC) -Irecorder/include -Idecoder/include -c $< -o $@

$(B)/obj/examples/%.o: examples/%.cpp $(GEN)
	@mkdir -p $(@D)
	$(CXX) $(ALLFLAGS) $(INC) -Irecorder/include -c $< -o $@

$(LIBREC): $(REC_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(LIBDEC): $(DEC_OBJ)
	@rm -f $@
	ar rcs $@ $^

# mimalloc is linked first so that it replaces malloc for the whole tool.
$(BBX): $(B)/obj/decoder/tool/main.o $(LIBDEC)
	$(CXX) $(ALLFLAGS) -o $@ $^ -lmimalloc -llz4

$(B)/examples/%: $(B)/obj/examples/%.o $(LIBREC)
	@mkdir -p $(@D)
	$(CXX) $(ALLFLAGS) -o $@ $^ -llz4 -lpthread

$(UNIT): $(TEST_OBJ) $(LIBREC) $(LIBDEC) | $(CRASH_CHILD) $(EXAMPLES) $(RPC_PEER) $(ASIO_PROGRAMS)
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

# The hostile-input suite (tests/hostile/hostile.cpp): makes its cases, runs bbx on each.
$(HOSTILE): $(B)/obj/tests/hostile/hostile.o $(LIBREC)
	@mkdir -p $(@D)
	$(CXX) $(ALLFLAGS) -o $@ $^ -llz4 -lpthread

demo: check-deps $(BBX) $(EXAMPLES) $(RPC_PEER)
	@sh examples/demo.sh $(B)

test: check-deps $(BBX) $(UNIT) $(EXAMPLES) $(CRASH_CHILD) $(HOSTILE)
	@sh tests/run.sh $(B)

test-unit: check-deps $(UNIT)
	@sh tests/run.sh $(B) unit
test-golden: check-deps $(BBX)
	@sh tests/run.sh $(B) golden
test-outputs: check-deps $(BBX)
	@sh tests/run.sh $(B) outputs
test-hostile: check-deps $(BBX) $(HOSTILE)
	@sh tests/run.sh $(B) hostile
test-gating: check-deps
	@sh tests/run.sh $(B) gating
test-fuzz-replay: check-deps $(BBX)
	@sh tests/run.sh $(B) fuzz-replay
test-bench-smoke: check-deps
	@sh tests/run.sh $(B) bench-smoke

bench: check-deps $(LIBREC)
	@$(MAKE) --no-print-directory -f bench/bench.mk B=$(B) run

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
FUZZ_DEB_PACKAGES := clang libclang-rt-14-dev

.PHONY: test-asan test-tsan fuzz
test-asan: check-deps
	@$(MAKE) --no-print-directory B=$(ASAN_B) MOREFLAGS="$(MOREFLAGS) $(ASAN_FLAGS)" \
	    $(patsubst $(B)/%,$(ASAN_B)/%,$(BBX) $(UNIT) $(EXAMPLES))
	@$(ASAN_ENV) CXX="$(CXX)" MOREFLAGS="$(MOREFLAGS) $(ASAN_FLAGS)" sh tests/run.sh $(ASAN_B) unit golden outputs cli fuzz-replay

# The stress program is built only here, never by `make test`.
$(TSAN_STRESS): $(B)/obj/tests/stress/tsan_stress.o $(LIBREC) $(LIBDEC)
	@mkdir -p $(@D)
	$(CXX) $(ALLFLAGS) -o $@ $^ -llz4 -lpthread -ldl

test-tsan: check-deps
	@$(MAKE) --no-print-directory B=$(TSAN_B) CXX=$(TSAN_CXX) MOREFLAGS="$(MOREFLAGS) $(TSAN_FLAGS)" $(TSAN_B)/tests/tsan_stress
	$(TSAN_ENV) $(TSAN_B)/tests/tsan_stress $(TSAN_SECONDS)

fuzz: check-deps
	@sh tools/deps.sh check $(FUZZ_DEB_PACKAGES)
	@$(MAKE) --no-print-directory -f fuzz/fuzz.mk B=$(B) fuzz FUZZ_SECONDS=$(FUZZ_SECONDS)

clean:
	rm -rf $(B)

# Keep objects make would otherwise delete as intermediate files.
.SECONDARY:

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
