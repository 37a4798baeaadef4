# The recorder hot-path benchmark (bench/README.md says how to read it).
# Run from the top of the tree; the top Makefile's `make bench` runs `run`.
#
#   make -f bench/bench.mk B=build run     build and run it: the table
#   make -f bench/bench.mk B=build smoke   a tiny run that only shows it works (exit 0; a few seconds)
#   make -f bench/bench.mk B=build instr   instructions per event of each case (valgrind's callgrind)
#   make -f bench/bench.mk B=build build   only build $(B)/bench/hot_path
#
# CXX, CXXFLAGS and MOREFLAGS as in the top Makefile (-O2 -g by default, no
# -march=native); ARGS passes options to the benchmark, e.g. ARGS="--rounds 50".
# The recorder library is built by the top Makefile.

CXX ?= g++
CXXFLAGS ?= -O2 -g
MOREFLAGS ?=
ARGS ?=
B ?= build
WARN := -Wall -Wextra -Wshadow -Wnon-virtual-dtor -Woverloaded-virtual -Wformat=2 -Wcast-qual -Wundef
ALLFLAGS := -std=c++20 $(WARN) $(CXXFLAGS) $(MOREFLAGS) -MMD -MP
INC := -Iformat/include -Irecorder/include

LIBREC := $(B)/libbbx_recorder.a
OBJDIR := $(B)/bench/obj
BIN := $(B)/bench/hot_path
OBJ := $(OBJDIR)/hot_path.o $(OBJDIR)/compiled_out.o
INSTR_CASES := floor instant_int instant_3args instant_str32 span counter disabled compiled_out empty_loop
INSTR_EVENTS := 100000

.PHONY: run smoke instr build FORCE
run: $(BIN)
	@$(BIN) $(ARGS)

smoke: $(BIN)
	@$(BIN) --smoke

build: $(BIN)

# The top Makefile knows how to build the library; ask it every time (a no-op when up to date).
$(LIBREC): FORCE
	@$(MAKE) -q --no-print-directory -f Makefile B=$(B) $(LIBREC) 2>/dev/null \
	    || $(MAKE) --no-print-directory -f Makefile B=$(B) $(LIBREC)

# Objects are rebuilt when the compiler or its flags change, so a table never
# comes from a binary built with other flags than the ones it prints.
FLAGS_LINE := $(CXX) $(ALLFLAGS)
FLAGS_FILE := $(OBJDIR)/flags
$(shell mkdir -p $(OBJDIR) && (echo '$(FLAGS_LINE)' | cmp -s - $(FLAGS_FILE) || echo '$(FLAGS_LINE)' > $(FLAGS_FILE)))

$(OBJDIR)/hot_path.o: bench/hot_path.cpp $(FLAGS_FILE)
	$(CXX) $(ALLFLAGS) $(INC) '-DBBX_BENCH_FLAGS="$(strip $(CXXFLAGS) $(MOREFLAGS))"' -c $< -o $@

# The compiled-out case: DEBUG and TRACE events are removed from this file only.
$(OBJDIR)/compiled_out.o: bench/compiled_out.cpp $(FLAGS_FILE)
	$(CXX) $(ALLFLAGS) $(INC) -DBBX_LEVEL_MAX=BBX_LEVEL_WARN -c $< -o $@

$(BIN): $(OBJ) $(LIBREC)
	$(CXX) $(ALLFLAGS) -o $@ $(OBJ) $(LIBREC) -lpthread

# Instructions per iteration of each case's loop (loop overhead included: compare
# with empty_loop), counted by callgrind inside instr_region() only.
instr: $(BIN)
	@if ! command -v valgrind >/dev/null 2>&1; then echo "instr: valgrind not found, skipped"; exit 0; fi; \
	echo "instructions per iteration, $(INSTR_EVENTS) iterations each, counted by callgrind (span: begin + end)"; \
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

-include $(OBJ:.o=.d)
