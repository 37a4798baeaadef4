// Checks that no sequence of bytes makes the decoder crash, hang, leak or
// break its own promises: the bytes are opened as a ring file with
// capture::from_bytes and, if they open, every event is walked and every
// output (dump, info, Chrome JSON, Perfetto) is written to /dev/null.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bbx/decoder.hpp"

namespace {

namespace fmt = ::bbx::format;

// A broken promise is a crash, so that the fuzzer reports it.
#define BBX_FUZZ_CHECK(cond)                                                                         \
    do {                                                                                             \
        if (!(cond)) {                                                                               \
            std::fprintf(stderr, "fuzz_ring: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                            \
        }                                                                                            \
    } while (0)

volatile uint64_t sink;  // keeps the reads in touch() from being optimised away

std::FILE* null_output() {
    static std::FILE* f = std::fopen("/dev/null", "w");
    BBX_FUZZ_CHECK(f != nullptr);
    return f;
}

// Reads every byte an event points at, so that AddressSanitizer sees a view
// that reaches past its buffer, and checks the limits the format sets.
uint64_t touch(const bbx::dec::event& e) {
    uint64_t sum = e.ticks + uint64_t(e.ns) + e.nargs + e.task;
    BBX_FUZZ_CHECK(e.nargs <= fmt::max_args);
    if (e.kind == fmt::kind::thread_name) {
        BBX_FUZZ_CHECK(e.thread_name.size() <= fmt::max_thread_name);
        for (char c : e.thread_name) sum += static_cast<unsigned char>(c);
    }
    switch (e.kind) {
        case fmt::kind::span_begin:
        case fmt::kind::span_end:
        case fmt::kind::instant:
        case fmt::kind::counter: BBX_FUZZ_CHECK(e.where != nullptr); break;
        case fmt::kind::thread_name: BBX_FUZZ_CHECK(e.where == nullptr && e.nargs == 0); break;
        default: break;  // later kinds: `where` is optional
    }
    if (e.where) {
        BBX_FUZZ_CHECK(e.nargs <= e.where->args.size());
        sum += e.where->name.size() + e.where->category.size();
    } else {
        BBX_FUZZ_CHECK(e.nargs == 0);
    }
    for (uint32_t i = 0; i < e.nargs; ++i) {
        const bbx::dec::arg& a = e.args[i];
        BBX_FUZZ_CHECK(a.decl == &e.where->args[i]);
        sum += a.word + a.decl->name.size();
        if (a.decl->type == fmt::arg_type::string) {
            BBX_FUZZ_CHECK(a.str.size() == a.word && a.str.size() <= fmt::max_string_bytes);
            for (char c : a.str) sum += static_cast<unsigned char>(c);
        }
    }
    if (e.kind == fmt::kind::crash) {
        BBX_FUZZ_CHECK(e.crash->nframes <= fmt::max_crash_frames);
        for (uint32_t i = 0; i < e.crash->nframes; ++i) sum += e.crash->frames[i];
    }
    return sum;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto r = bbx::dec::capture::from_bytes(data, size, "fuzz");
    if (r.is_error()) {
        const bbx::dec::error& e = r.err();
        // An error names a place inside the file (or its end) and says what was wrong.
        BBX_FUZZ_CHECK(e.code != bbx::dec::errc::io);
        BBX_FUZZ_CHECK(e.offset <= size);
        BBX_FUZZ_CHECK(!e.what.empty());
        return 0;
    }
    bbx::dec::capture& c = *r.value();
    BBX_FUZZ_CHECK(c.threads().size() == c.header().rings_used);

    uint64_t events = 0, sum = 0;
    auto walked = c.for_each_event([&](const bbx::dec::event& e) {
        ++events;
        sum += touch(e);
    });
    BBX_FUZZ_CHECK(!walked.is_error());
    BBX_FUZZ_CHECK(walked.value().threads.size() == c.threads().size());
    uint64_t counted = 0;
    for (const bbx::dec::ring_stats& s : walked.value().threads) counted += s.events;
    BBX_FUZZ_CHECK(counted == events);
    // The bytes were copied: nothing changes them between two walks.
    uint64_t again = 0;
    (void)c.for_each_event([&](const bbx::dec::event&) { ++again; });
    BBX_FUZZ_CHECK(again == events);

    // Writing to /dev/null cannot fail, so every writer must report success.
    std::FILE* out = null_output();
    std::string err;
    BBX_FUZZ_CHECK(bbx::dec::write_dump(c, out, err));
    BBX_FUZZ_CHECK(bbx::dec::write_info(c, out, err));
    BBX_FUZZ_CHECK(bbx::dec::write_chrome(c, out, err));
    BBX_FUZZ_CHECK(bbx::dec::write_perfetto(c, out, err));
    sink = sum;
    return 0;
}
