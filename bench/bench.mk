# The benchmarks (bench/README.md says how to run and read them; bench/RESULTS.md
# holds the latest tables). Run from the top of the tree; the top Makefile's
# `make bench` runs `run`.
#
#   make -f bench/bench.mk B=build run         hot path: blackbox's cases (C++ and C) and the peers, one table
#                                              (~15 s); then the same through libbbx_recorder.so (~15 s)
#   make -f bench/bench.mk B=build footprint   resident memory and file size: 1, 8, 64 threads; the smallest config
#   make -f bench/bench.mk B=build stall       the stall-stack watchdog's own CPU at a 1 ms check period (~1 min)
#   make -f bench/bench.mk B=build decoder     bbx over a 10-million-event capture: events/s, peak memory,
#                                              bytes per event (~3 min; DECODER_ARGS="--reps 5 --events N")
#   make -f bench/bench.mk B=build all         the three above
#   make -f bench/bench.mk B=build smoke       every benchmark binary on a tiny count (< 20 s), checked;
#                                              last line "bench-smoke: N passed, M failed" (make test runs it)
#   make -f bench/bench.mk B=build instr       instructions per event of each case (valgrind's callgrind)
#   make -f bench/bench.mk B=build asio        server CPU of Asio's HTTP and echo servers, plain / traced /
#                                              recording, 5 alternating runs (~3 min; ASIO_ARGS="--runs 7")
#   make -f bench/bench.mk B=build ring-history  seconds of history a ring holds: the demo's service and Asio's
#                                              HTTP server recorded, their rates from bbx info (~15 s)
#   make -f bench/bench.mk B=build top         one bbx top refresh over 64 threads x 1 MiB rings: the first
#                                              frame, then incremental refreshes, against a read pass (~1 min)
#   make -f bench/bench.mk B=build build       only build the binaries
#   make -f bench/bench.mk bench-deps          install the peers' Debian packages (as root)
#
# CXX, CXXFLAGS and MOREFLAGS as in the top Makefile (-O2 -g by default, no
# -march=native); ARGS passes options to hot_path, e.g. ARGS="--rounds 100".
# The recorder library and bbx are built by the top Makefile.
#
# Peers are optional: a peer is built when its Debian package is installed
# (PEERS=none builds none). The LTTng case records only inside a session,
# which bench/hot_path.sh sets up when lttng-tools is installed.

CXX ?= g++
ifeq ($(origin CC),default)
CC := $(subst g++,gcc,$(subst clang++,clang,$(CXX)))
endif
CXXFLAGS ?= -O2 -g
MOREFLAGS ?=
ARGS ?=
DECODER_ARGS ?=
ASIO_ARGS ?=
TOP_ARGS ?=
PEERS ?= auto
B ?= build
WARN := -Wall -Wextra -Wshadow -Wnon-virtual-dtor -Woverloaded-virtual -Wformat=2 -Wcast-qual -Wundef
ALLFLAGS := -std=c++20 $(WARN) $(CXXFLAGS) $(MOREFLAGS) -MMD -MP
CFLAGS_C := -std=c11 -Wall -Wextra -Wpedantic $(CXXFLAGS) $(MOREFLAGS) -MMD -MP
INC := -Iformat/include -Irecorder/include

LIBREC := $(B)/libbbx_recorder.a
LIBREC_SO := $(B)/libbbx_recorder.so
BBX := $(B)/bbx
OBJDIR := $(B)/bench/obj
BIN := $(B)/bench/hot_path
# The same cases with the recorder in libbbx_recorder.so, plus a PIC shared
# object's (bench/plugin_cases.cpp): what the shared library costs.
SHARED_BIN := $(B)/bench/hot_path_shared
PLUGIN := $(B)/bench/libbbx_bench_plugin.so
FOOTPRINT := $(B)/bench/footprint
GEN := $(B)/bench/gen_capture
READ_PASS := $(B)/bench/read_pass
TOP_REFRESH := $(B)/bench/top_refresh
STALL := $(B)/bench/stall_watchdog
LIBDEC := $(B)/libbbx_decoder.a
BINS := $(BIN) $(SHARED_BIN) $(FOOTPRINT) $(GEN) $(READ_PASS) $(TOP_REFRESH) $(STALL)
INSTR_CASES := floor instant_int instant_3args instant_str32 span counter poll disabled compiled_out empty_loop \
               c_instant_int c_span c_disabled
INSTR_EVENTS := 100000

# ---- peers: built only when their headers are found --------------------------------
HASH := \#
have_header = $(shell echo '$(HASH)include <$(1)>' | $(CXX) -std=c++20 -x c++ -E - >/dev/null 2>&1 && echo 1)
ifeq ($(PEERS),none)
HAVE_SPDLOG :=
HAVE_LTTNG :=
else
HAVE_SPDLOG := $(call have_header,spdlog/spdlog.h)
HAVE_LTTNG := $(call have_header,lttng/tracepoint.h)
endif
PEER_OBJ :=
PEER_LIBS :=
PEER_NOTES :=
ifeq ($(HAVE_SPDLOG),1)
SPDLOG_CFLAGS := $(shell pkg-config --cflags spdlog 2>/dev/null || echo -DSPDLOG_SHARED_LIB -DSPDLOG_COMPILED_LIB -DSPDLOG_FMT_EXTERNAL)
PEER_OBJ += $(OBJDIR)/peer_spdlog.o
PEER_LIBS += $(shell pkg-config --libs spdlog 2>/dev/null || echo -lspdlog -lfmt)
else
PEER_NOTES += "skipped: spdlog (apt-get install libspdlog-dev)"
endif
ifeq ($(HAVE_LTTNG),1)
PEER_OBJ += $(OBJDIR)/peer_lttng.o $(OBJDIR)/lttng_tp.o
PEER_LIBS += $(shell pkg-config --libs lttng-ust 2>/dev/null || echo -llttng-ust -llttng-ust-common -ldl)
else
PEER_NOTES += "skipped: LTTng-UST (apt-get install liblttng-ust-dev lttng-tools babeltrace2)"
endif
PEER_DEFS := -DBBX_BENCH_HAVE_SPDLOG=$(if $(HAVE_SPDLOG),1,0) -DBBX_BENCH_HAVE_LTTNG=$(if $(HAVE_LTTNG),1,0)

OBJ := $(OBJDIR)/hot_path.o $(OBJDIR)/compiled_out.o $(OBJDIR)/c_cases.o $(PEER_OBJ)
SHARED_OBJ := $(OBJDIR)/hot_path_shared.o $(OBJDIR)/compiled_out.o $(OBJDIR)/c_cases.o

.PHONY: run footprint stall decoder top all smoke instr build bench-deps peer-notes asio ring-history FORCE
run: $(BIN) $(SHARED_BIN) peer-notes
	@sh bench/hot_path.sh $(BIN) $(ARGS)
	@echo
	@$(SHARED_BIN) --no-peers $(ARGS)

footprint: $(FOOTPRINT)
	@$(FOOTPRINT)

# The stall-stack watchdog's CPU at a 1 ms check period (~1 min; STALL_ARGS="--runs 7").
STALL_ARGS ?=
stall: $(STALL)
	@$(STALL) $(STALL_ARGS)

decoder: $(GEN) $(READ_PASS) $(BBX)
	@sh bench/decoder.sh $(B) $(DECODER_ARGS)

top: $(TOP_REFRESH)
	@$(TOP_REFRESH) $(TOP_ARGS)

all: run footprint decoder

# Asio's example servers, with and without tracing (tests/asio.mk, through the top Makefile).
ASIO_LOAD := $(B)/bench/asio_load
asio: $(ASIO_LOAD) $(BBX)
	@$(MAKE) --no-print-directory -f Makefile B=$(B) $(foreach p,http_server echo_server,$(B)/tests/asio/$(p) $(B)/tests/asio/plain/$(p))
	@sh bench/asio.sh $(B) $(ASIO_ARGS)

# How long a ring holds, measured (README "How far back a capture reaches").
ring-history: $(ASIO_LOAD) $(BBX)
	@$(MAKE) --no-print-directory -f Makefile B=$(B) $(B)/tests/asio/http_server $(B)/examples/async/service
	@sh bench/ring_history.sh $(B) $(RING_HISTORY_ARGS)

$(ASIO_LOAD): $(OBJDIR)/asio_load.o
	$(CXX) $(ALLFLAGS) -o $@ $^ -lpthread

smoke: $(BINS) $(BBX) peer-notes
	@sh bench/smoke.sh $(B)

build: $(BINS) peer-notes

peer-notes:
	@for n in $(PEER_NOTES); do echo "$$n"; done

bench-deps:
	@sh tools/deps.sh install bench

# The top Makefile knows how to build the libraries and the tool; ask it every time (a no-op when up to date).
$(LIBREC) $(LIBREC_SO) $(LIBDEC) $(BBX): FORCE
	@$(MAKE) -q --no-print-directory -f Makefile B=$(B) $@ 2>/dev/null \
	    || $(MAKE) --no-print-directory -f Makefile B=$(B) $@

# Objects are rebuilt when the compiler, its flags or the set of peers change,
# so a table never comes from a binary built with other flags than the ones it prints.
FLAGS_LINE := $(CXX) $(CC) $(ALLFLAGS) $(PEER_DEFS) $(CFLAGS_C)
FLAGS_FILE := $(OBJDIR)/flags
$(shell mkdir -p $(OBJDIR) && (echo '$(FLAGS_LINE)' | cmp -s - $(FLAGS_FILE) || echo '$(FLAGS_LINE)' > $(FLAGS_FILE)))

$(OBJDIR)/hot_path.o: bench/hot_path.cpp $(FLAGS_FILE)
	$(CXX) $(ALLFLAGS) $(INC) $(PEER_DEFS) '-DBBX_BENCH_FLAGS="$(strip $(CXXFLAGS) $(MOREFLAGS))"' -c $< -o $@

$(OBJDIR)/hot_path_shared.o: bench/hot_path.cpp $(FLAGS_FILE)
	$(CXX) $(ALLFLAGS) $(INC) -DBBX_BENCH_SHARED '-DBBX_BENCH_FLAGS="$(strip $(CXXFLAGS) $(MOREFLAGS))"' -c $< -o $@

# The C API's cases, compiled as C.
$(OBJDIR)/c_cases.o: bench/c_cases.c $(FLAGS_FILE)
	$(CC) $(CFLAGS_C) -Irecorder/include -c $< -o $@

# A PIC shared object instrumented with blackbox, linked to libbbx_recorder.so.
$(OBJDIR)/plugin_cases.o: bench/plugin_cases.cpp $(FLAGS_FILE)
	$(CXX) $(ALLFLAGS) $(INC) -fPIC -c $< -o $@

$(PLUGIN): $(OBJDIR)/plugin_cases.o $(LIBREC_SO)
	$(CXX) $(ALLFLAGS) -shared -o $@ $< -L$(B) -lbbx_recorder

# The compiled-out case: DEBUG and TRACE events are removed from this file only.
$(OBJDIR)/compiled_out.o: bench/compiled_out.cpp $(FLAGS_FILE)
	$(CXX) $(ALLFLAGS) $(INC) -DBBX_LEVEL_MAX=BBX_LEVEL_WARN -c $< -o $@

$(OBJDIR)/peer_spdlog.o: bench/peer_spdlog.cpp $(FLAGS_FILE)
	$(CXX) $(ALLFLAGS) $(SPDLOG_CFLAGS) -c $< -o $@

# lttng_tp.h names itself "./lttng_tp.h" for tracepoint-event.h: found through -Ibench.
$(OBJDIR)/peer_lttng.o: bench/peer_lttng.cpp $(FLAGS_FILE)
	$(CXX) $(ALLFLAGS) -Ibench -c $< -o $@

$(OBJDIR)/lttng_tp.o: bench/lttng_tp.c $(FLAGS_FILE)
	$(CC) -O2 -g -Wall -Wextra $(MOREFLAGS) -MMD -MP -Ibench -c $< -o $@

$(OBJDIR)/%.o: bench/%.cpp $(FLAGS_FILE)
	$(CXX) $(ALLFLAGS) $(INC) -c $< -o $@

$(BIN): $(OBJ) $(LIBREC)
	$(CXX) $(ALLFLAGS) -o $@ $(OBJ) $(LIBREC) $(PEER_LIBS) -lpthread

# Found at run time next to it ($ORIGIN), and one folder up (the build's libbbx_recorder.so.2).
$(SHARED_BIN): $(SHARED_OBJ) $(PLUGIN) $(LIBREC_SO)
	$(CXX) $(ALLFLAGS) -o $@ $(SHARED_OBJ) -L$(B)/bench -lbbx_bench_plugin -L$(B) -lbbx_recorder \
	    -Wl,-rpath,'$$ORIGIN:$$ORIGIN/..' -lpthread

$(STALL): $(OBJDIR)/stall_watchdog.o $(LIBREC)
	$(CXX) $(ALLFLAGS) -o $@ $^ -llz4 -lpthread

$(FOOTPRINT): $(OBJDIR)/footprint.o $(LIBREC)
	$(CXX) $(ALLFLAGS) -o $@ $^ -lpthread

$(GEN): $(OBJDIR)/gen_capture.o $(LIBREC)
	$(CXX) $(ALLFLAGS) -o $@ $^ -lpthread

# The decoder benchmark's floor: the read pass alone, linked as bbx is (mimalloc first).
$(OBJDIR)/read_pass.o: bench/read_pass.cpp $(FLAGS_FILE)
	$(CXX) $(ALLFLAGS) $(INC) -Idecoder/include -I$(B)/gen -c $< -o $@

$(READ_PASS): $(OBJDIR)/read_pass.o $(LIBDEC)
	$(CXX) $(ALLFLAGS) -o $@ $^ -lmimalloc -llz4

# bbx top's refresh: the recorder writes, the decoder library reads, in one process.
$(OBJDIR)/top_refresh.o: bench/top_refresh.cpp $(FLAGS_FILE)
	$(CXX) $(ALLFLAGS) $(INC) -Idecoder/include -I$(B)/gen -c $< -o $@

$(TOP_REFRESH): $(OBJDIR)/top_refresh.o $(LIBDEC) $(LIBREC)
	$(CXX) $(ALLFLAGS) -o $@ $^ -lmimalloc -llz4 -lpthread

# Instructions per iteration of each case's loop (loop overhead included: compare
# with empty_loop), counted by callgrind inside instr_region() only.
instr: $(BIN)
	@if ! command -v valgrind >/dev/null 2>&1; then echo "instr: valgrind not found, skipped"; exit 0; fi; \
	echo "instructions per iteration, $(INSTR_EVENTS) iterations each, counted by callgrind (span, poll: begin + end)"; \
	for c in $(INSTR_CASES); do \
	    out=$(B)/bench/callgrind.$$c.out; \
	    valgrind --tool=callgrind --callgrind-out-file=$$out --toggle-collect='*instr_region*' \
	        $(BIN) --instr $$c --events $(INSTR_EVENTS) > $(B)/bench/callgrind.$$c.log 2>&1 \
	        || { echo "instr: $$c failed, see $(B)/bench/callgrind.$$c.log" \
	             "(valgrind 3.19 cannot read clang's DWARF 5: rebuild everything with MOREFLAGS=-gdwarf-4)"; exit 1; }; \
	    ir=$$(sed -n 's/^summary: *//p' $$out | head -n 1); \
	    [ -n "$$ir" ] || ir=$$(sed -n 's/^totals: *//p' $$out | head -n 1); \
	    awk -v c=$$c -v ir="$$ir" -v n=$(INSTR_EVENTS) 'BEGIN { printf "  %-16s %7.1f\n", c, ir / n }'; \
	done

-include $(wildcard $(OBJDIR)/*.d)
