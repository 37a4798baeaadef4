# Asio's own example servers (Debian libasio-doc installs their sources) and a
# Beast server, built UNCHANGED apart from the handler tracking definitions,
# for tests/test_asio_examples.cpp and bench/asio.sh. Included by the Makefile.
#
#   $(B)/tests/asio/http_server    cpp11/http/server: callbacks, one thread
#   $(B)/tests/asio/http_server3   cpp03/http/server3: callbacks on strands, a thread pool (needs Boost)
#   $(B)/tests/asio/echo_server    cpp17/coroutines_ts/echo_server: asio::awaitable coroutines (port 55555)
#   $(B)/tests/asio/beast_server   tests/programs/beast_server.cpp: Boost.Beast, callbacks or coroutines
#   $(B)/tests/asio/plain/...      the same without the definitions or the recorder (bench/asio.sh)
#
# Each program is one translation unit (the example's .cpp files #included
# in turn, as they are), since Asio's headers dominate the compile time.
# Where the example sources or Boost are missing, the program is left out
# and the test says so.
ASIO_EXAMPLES ?= /usr/share/doc/libasio-dev/examples
ASIO_B := $(B)/tests/asio
ASIO_CXX = $(CXX) -std=c++20 $(CXXFLAGS) $(MOREFLAGS)
ASIO_DEFS := -DASIO_ENABLE_HANDLER_TRACKING '-DASIO_CUSTOM_HANDLER_TRACKING="bbx/asio_tracking.hpp"'
BOOST_ASIO_DEFS := -DBOOST_ASIO_ENABLE_HANDLER_TRACKING '-DBOOST_ASIO_CUSTOM_HANDLER_TRACKING="bbx/asio_tracking.hpp"'
ASIO_HEADERS := $(wildcard recorder/include/bbx/*.hpp format/include/bbx/*.hpp)

# program name -> example sources, and the extra definitions it needs to build at all
asio_src_http_server := $(sort $(wildcard $(ASIO_EXAMPLES)/cpp11/http/server/*.cpp))
asio_src_http_server3 := $(sort $(wildcard $(ASIO_EXAMPLES)/cpp03/http/server3/*.cpp))
asio_src_echo_server := $(wildcard $(ASIO_EXAMPLES)/cpp17/coroutines_ts/echo_server.cpp)
asio_extra_http_server3 := -DASIO_ENABLE_BOOST  # the C++03 examples use boost::bind

ASIO_PROGRAMS :=
ifneq ($(asio_src_http_server),)
ASIO_PROGRAMS += $(ASIO_B)/http_server $(ASIO_B)/echo_server
ifneq ($(wildcard /usr/include/boost/bind/bind.hpp),)
ASIO_PROGRAMS += $(ASIO_B)/http_server3
endif
endif
ifneq ($(wildcard /usr/include/boost/beast.hpp),)
ASIO_PROGRAMS += $(ASIO_B)/beast_server
endif

.PHONY: asio-programs asio-plain-programs
asio-programs: $(ASIO_PROGRAMS)
asio-plain-programs: $(patsubst $(ASIO_B)/%,$(ASIO_B)/plain/%,$(ASIO_PROGRAMS))

$(ASIO_B)/%.cpp:
	@mkdir -p $(@D)
	@for f in $(asio_src_$*); do echo "#include \"$$f\""; done > $@

$(ASIO_B)/http_server $(ASIO_B)/http_server3 $(ASIO_B)/echo_server: $(ASIO_B)/%: $(ASIO_B)/%.cpp $(ASIO_HEADERS) $(LIBREC)
	$(ASIO_CXX) $(ASIO_DEFS) $(asio_extra_$*) -Irecorder/include -Iformat/include -o $@ $< $(LIBREC) -llz4 -lpthread

$(ASIO_B)/beast_server: tests/programs/beast_server.cpp $(ASIO_HEADERS) $(LIBREC)
	@mkdir -p $(@D)
	$(ASIO_CXX) $(BOOST_ASIO_DEFS) -Irecorder/include -Iformat/include -o $@ $< $(LIBREC) -llz4 -lpthread

$(ASIO_B)/plain/http_server $(ASIO_B)/plain/http_server3 $(ASIO_B)/plain/echo_server: $(ASIO_B)/plain/%: $(ASIO_B)/%.cpp
	@mkdir -p $(@D)
	$(ASIO_CXX) $(asio_extra_$*) -o $@ $< -lpthread

$(ASIO_B)/plain/beast_server: tests/programs/beast_server.cpp
	@mkdir -p $(@D)
	$(ASIO_CXX) -o $@ $< -lpthread
