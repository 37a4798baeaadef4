# blackbox fuzz targets: one file per target, fuzz/fuzz_NAME.cpp, seeded by
# fuzz/corpus/NAME/. Run from the top of the tree:
#
#   make -f fuzz/fuzz.mk B=build replay     build $(B)/fuzz/replay with $(CXX) (g++ unless told) against
#                                           $(B)/libbbx_decoder.a and run every file of fuzz/corpus through
#                                           it: the corpus as a regression suite, no clang needed
#   make -f fuzz/fuzz.mk B=build fuzz FUZZ_SECONDS=60
#                                           build each target with clang++ -fsanitize=fuzzer,address,undefined
#                                           (the decoder sources too, into $(B)/fuzz-asan/) and run it for
#                                           FUZZ_SECONDS on a copy of its corpus; fails if it finds a crash,
#                                           a hang (-timeout) or a leak. Reproducers land in
#                                           $(B)/fuzz-asan/artifacts/; replay one with
#                                           $(B)/fuzz-asan/fuzz_NAME FILE
#   make -f fuzz/fuzz.mk B=build clean      remove $(B)/fuzz and $(B)/fuzz-asan
#
# The fuzz build needs clang's libFuzzer runtime (Debian: libclang-rt-14-dev).
# The replay driver runs only the `ring` target; a second target needs its own
# replay binary here.

B ?= build
CXXFLAGS ?= -O2 -g
MOREFLAGS ?=
WARN := -Wall -Wextra -Wshadow -Wnon-virtual-dtor -Woverloaded-virtual -Wformat=2 -Wcast-qual -Wundef
INC := -Iformat/include -Idecoder/include -I$(B)/gen

GEN := $(B)/gen/bbx_meta_generated.h
LIBDEC := $(B)/libbbx_decoder.a
REPLAY := $(B)/fuzz/replay

FUZZ_CXX ?= clang++
FUZZ_SECONDS ?= 60
FZ := $(B)/fuzz-asan
SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FZFLAGS := -std=c++20 -O1 -g $(WARN) $(SAN) $(MOREFLAGS)
DEC_SRC := $(wildcard decoder/src/*.cpp)
FZ_DEC_OBJ := $(DEC_SRC:decoder/src/%.cpp=$(FZ)/obj/%.o)
TARGETS := $(patsubst fuzz/fuzz_%.cpp,%,$(wildcard fuzz/fuzz_*.cpp))
# Sanitizer reports abort with a stack; leaks count as failures.
FUZZ_ENV := ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:symbolize=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: replay fuzz clean FORCE
.SECONDARY: $(FZ_DEC_OBJ)

replay: $(REPLAY)
	$(REPLAY) fuzz/corpus

# The library and the generated header belong to the main Makefile.
$(LIBDEC) $(GEN): FORCE
	@$(MAKE) --no-print-directory -f Makefile B=$(B) $@

$(B)/fuzz/obj/%.o: fuzz/%.cpp
	@mkdir -p $(@D)
	$(CXX) -std=c++20 $(WARN) $(CXXFLAGS) $(MOREFLAGS) $(INC) -MMD -MP -c $< -o $@

$(REPLAY): $(B)/fuzz/obj/replay.o $(B)/fuzz/obj/fuzz_ring.o $(LIBDEC)
	$(CXX) -std=c++20 $(WARN) $(CXXFLAGS) $(MOREFLAGS) -o $@ $^

$(FZ)/obj/%.o: decoder/src/%.cpp | $(GEN)
	@mkdir -p $(@D)
	$(FUZZ_CXX) $(FZFLAGS) -fsanitize=fuzzer-no-link $(INC) -MMD -MP -c $< -o $@

$(FZ)/fuzz_%: fuzz/fuzz_%.cpp $(FZ_DEC_OBJ)
	@mkdir -p $(@D)
	$(FUZZ_CXX) $(FZFLAGS) -fsanitize=fuzzer $(INC) -o $@ $^

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
