# blackbox: build, test, demo.
#
#   make              build bbx, the recorder library and the examples
#   make deps         install the Debian packages that are missing (as root), or print the command
#   make demo         the main job: record a real workload, analyse it, convert it
#   make test         every suite below; the last line is "N passed, M failed"
#     test-unit         doctest suites (format, recorder, decoder, converters)
#     test-golden       the spec's test vectors in tests/golden/
#     test-gating       a compiled-out event leaves no code and no strings
#     test-fuzz-replay  every fuzz corpus file through the fuzz entry points
#     test-bench-smoke  each benchmark binary runs a tiny iteration count
#   make bench        hot-path benchmark (prints a table; never part of test)
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

DEB_PACKAGES := flatbuffers-compiler libflatbuffers-dev liblz4-dev libmimalloc-dev doctest-dev libbenchmark-dev libasio-dev python3

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

.PHONY: all deps check-deps demo test test-unit test-golden test-gating test-fuzz-replay test-bench-smoke bench clean
all: check-deps $(BBX) $(LIBREC) $(EXAMPLES)

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
	$(CXX) $(ALLFLAGS) -o $@ $^ -lpthread

$(UNIT): $(TEST_OBJ) $(LIBREC) $(LIBDEC) | $(CRASH_CHILD) $(EXAMPLES) $(RPC_PEER)
	@mkdir -p $(@D)
	$(CXX) $(ALLFLAGS) -o $@ $^ -llz4 -lpthread

# The program tests/test_crash.cpp runs, crashes and kills (next to the unit binary).
$(CRASH_CHILD): $(B)/obj/tests/programs/crash_child.o $(LIBREC)
	@mkdir -p $(@D)
	$(CXX) $(ALLFLAGS) -o $@ $^ -lpthread

# The client and server tests/test_merge.cpp runs and merges (next to the unit binary).
$(RPC_PEER): $(B)/obj/tests/programs/rpc_peer.o $(LIBREC)
	@mkdir -p $(@D)
	$(CXX) $(ALLFLAGS) -o $@ $^ -lpthread

demo: check-deps $(BBX) $(EXAMPLES)
	@sh examples/demo.sh $(B)

test: check-deps $(BBX) $(UNIT) $(EXAMPLES) $(CRASH_CHILD)
	@sh tests/run.sh $(B)

test-unit: check-deps $(UNIT)
	@sh tests/run.sh $(B) unit
test-golden: check-deps $(BBX)
	@sh tests/run.sh $(B) golden
test-gating: check-deps
	@sh tests/run.sh $(B) gating
test-fuzz-replay: check-deps $(BBX)
	@sh tests/run.sh $(B) fuzz-replay
test-bench-smoke: check-deps
	@sh tests/run.sh $(B) bench-smoke

bench: check-deps $(LIBREC)
	@$(MAKE) --no-print-directory -f bench/bench.mk B=$(B) run

clean:
	rm -rf $(B)

# Keep objects make would otherwise delete as intermediate files.
.SECONDARY:

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
