# blackbox fuzz targets: one file per target, fuzz/fuzz_NAME.cpp, seeded by
# fuzz/corpus/NAME/ (fuzz_ring.cpp -> fuzz/corpus/ring/). Every fuzz/fuzz_*.cpp
# is a target; adding one needs no change here. Run from the top of the tree:
#
#   make -f fuzz/fuzz.mk B=build replay     build $(B)/fuzz/replay_NAME for every target with $(CXX)
#                                           (g++ unless told) against $(B)/libbbx_decoder.a, and run
#                                           every file of fuzz/corpus/NAME/ through it, each in a child
#                                           process: the corpus as a regression suite, no clang needed.
#                                           Prints one line per target, then
#                                           "fuzz-replay: N passed, M failed" over all of them; a
#                                           target without a corpus directory counts as a failure
#   make -f fuzz/fuzz.mk B=build fuzz FUZZ_SECONDS=60
#                                           build each target with clang++ -fsanitize=fuzzer,address,undefined
#                                           (the decoder sources too, into $(B)/fuzz-asan/) and run each
#                                           for FUZZ_SECONDS on a copy of its corpus; fails if it finds a
#                                           crash, a hang (-timeout), a leak or an input needing more than
#                                           -rss_limit_mb. Reproducers land in $(B)/fuzz-asan/artifacts/;
#                                           replay one with $(B)/fuzz-asan/fuzz_NAME FILE
#   make -f fuzz/fuzz.mk B=build seeds      record the real-* seeds of fuzz/corpus/meta/ and
#                                           fuzz/corpus/convert/ (2.0, and their 1.4 rewrites) and the
#                                           real2-* of fuzz/corpus/ring/ again, and take the golden-*
#                                           ones of all three from tests/golden/ (fuzz/make_seeds.cpp);
#                                           review with git status
#   make -f fuzz/fuzz.mk B=build clean      remove $(B)/fuzz and $(B)/fuzz-asan
#
# The fuzz build needs clang and its libFuzzer runtime (Debian: clang,
# libclang-rt-14-dev). The replay build takes CXX and MOREFLAGS from the
# environment, so `make test-asan` replays under the sanitizers too.

B ?= build
CXXFLAGS ?= -O2 -g
MOREFLAGS ?=
WARN := -Wall -Wextra -Wshadow -Wnon-virtual-dtor -Woverloaded-virtual -Wformat=2 -Wcast-qual -Wundef
INC := -Iformat/include -Idecoder/include -Irecorder/include -I$(B)/gen -Ifuzz
LIBS := -llz4

GEN := $(B)/gen/bbx_meta_generated.h
LIBDEC := $(B)/libbbx_decoder.a
LIBREC := $(B)/libbbx_recorder.a
SEEDER := $(B)/fuzz/make_seeds
TARGETS := $(sort $(patsubst fuzz/fuzz_%.cpp,%,$(wildcard fuzz/fuzz_*.cpp)))
REPLAYS := $(TARGETS:%=$(B)/fuzz/replay_%)

FUZZ_CXX ?= clang++
FUZZ_SECONDS ?= 60
FZ := $(B)/fuzz-asan
SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FZFLAGS := -std=c++20 -O1 -g $(WARN) $(SAN) $(MOREFLAGS)
DEC_SRC := $(wildcard decoder/src/*.cpp)
FZ_DEC_OBJ := $(DEC_SRC:decoder/src/%.cpp=$(FZ)/obj/decoder/%.o)
# Sanitizer reports abort with a stack; leaks count as failures.
FUZZ_ENV := ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:symbolize=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: replay fuzz seeds clean FORCE
.SECONDARY:

replay: $(REPLAYS)
	@pass=0; fail=0; \
	for t in $(TARGETS); do \
	    if [ ! -d fuzz/corpus/$$t ]; then \
	        echo "FAIL fuzz-replay $$t: no corpus directory fuzz/corpus/$$t/"; fail=$$((fail + 1)); continue; \
	    fi; \
	    $(B)/fuzz/replay_$$t --name $$t fuzz/corpus/$$t >$(B)/fuzz/replay_$$t.log 2>&1; \
	    cat $(B)/fuzz/replay_$$t.log; \
	    line=$$(grep -E "^fuzz-replay $$t: [0-9]+ passed, [0-9]+ failed$$" $(B)/fuzz/replay_$$t.log | tail -n 1); \
	    if [ -z "$$line" ]; then \
	        echo "FAIL fuzz-replay $$t: the replay driver ended without a summary"; fail=$$((fail + 1)); continue; \
	    fi; \
	    pass=$$((pass + $$(echo "$$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/'))); \
	    fail=$$((fail + $$(echo "$$line" | sed -E 's/.* ([0-9]+) failed$$/\1/'))); \
	done; \
	echo "fuzz-replay: $$pass passed, $$fail failed"; \
	[ $$fail -eq 0 ]

# The libraries and the generated header belong to the main Makefile.
$(LIBDEC) $(LIBREC) $(GEN): FORCE
	@$(MAKE) --no-print-directory -f Makefile B=$(B) $@

$(B)/fuzz/obj/%.o: fuzz/%.cpp | $(GEN)
	@mkdir -p $(@D)
	$(CXX) -std=c++20 $(WARN) $(CXXFLAGS) $(MOREFLAGS) $(INC) -MMD -MP -c $< -o $@

$(B)/fuzz/replay_%: $(B)/fuzz/obj/replay.o $(B)/fuzz/obj/fuzz_%.o $(LIBDEC)
	$(CXX) -std=c++20 $(WARN) $(CXXFLAGS) $(MOREFLAGS) -o $@ $^ $(LIBS)

$(SEEDER): $(B)/fuzz/obj/make_seeds.o $(LIBREC) $(LIBDEC)
	$(CXX) -std=c++20 $(WARN) $(CXXFLAGS) $(MOREFLAGS) -o $@ $^ $(LIBS) -lpthread

seeds: $(SEEDER)
	rm -f fuzz/corpus/meta/real-* fuzz/corpus/meta/golden-* fuzz/corpus/convert/real-* fuzz/corpus/convert/golden-* \
	    fuzz/corpus/ring/real2-* fuzz/corpus/ring/golden-*
	mkdir -p fuzz/corpus/meta fuzz/corpus/convert fuzz/corpus/ring
	$(SEEDER) fuzz/corpus tests/golden/ok/*.bbx tests/golden/bad/*.bbx

$(FZ)/obj/decoder/%.o: decoder/src/%.cpp | $(GEN)
	@mkdir -p $(@D)
	$(FUZZ_CXX) $(FZFLAGS) -fsanitize=fuzzer-no-link $(INC) -MMD -MP -c $< -o $@

$(FZ)/obj/fuzz/%.o: fuzz/%.cpp | $(GEN)
	@mkdir -p $(@D)
	$(FUZZ_CXX) $(FZFLAGS) -fsanitize=fuzzer-no-link $(INC) -MMD -MP -c $< -o $@

$(FZ)/fuzz_%: $(FZ)/obj/fuzz/fuzz_%.o $(FZ_DEC_OBJ)
	$(FUZZ_CXX) $(FZFLAGS) -fsanitize=fuzzer -o $@ $^ $(LIBS)

fuzz: $(TARGETS:%=$(FZ)/fuzz_%)
	@mkdir -p $(FZ)/artifacts
	@for t in $(TARGETS); do \
	    rm -rf $(FZ)/corpus-$$t && mkdir -p $(FZ)/corpus-$$t && \
	    if [ -d fuzz/corpus/$$t ]; then cp -R fuzz/corpus/$$t/. $(FZ)/corpus-$$t/; fi && \
	    echo "fuzz: $$t for $(FUZZ_SECONDS) s" && \
	    $(FUZZ_ENV) $(FZ)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	        -print_final_stats=1 -artifact_prefix=$(FZ)/artifacts/$$t- $(FZ)/corpus-$$t \
	        >$(FZ)/fuzz_$$t.log 2>&1; \
	    rc=$$?; \
	    if [ $$rc -ne 0 ]; then \
	        tail -n 60 $(FZ)/fuzz_$$t.log; \
	        echo "fuzz: $$t FAILED (exit $$rc); log: $(FZ)/fuzz_$$t.log, reproducer in $(FZ)/artifacts/"; exit 1; \
	    fi; \
	    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done)' $(FZ)/fuzz_$$t.log; \
	    echo "fuzz: $$t ok"; \
	done

clean:
	rm -rf $(B)/fuzz $(FZ)

-include $(shell find $(B)/fuzz/obj $(FZ)/obj -name '*.d' 2>/dev/null)
