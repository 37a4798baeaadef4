// The recorder's hot path never allocates: after a thread's first events
// (which may allocate: its ring, call-site metadata, the thread-exit hook),
// recording any kind of event makes no heap allocation at all.
//
// Proven with a counting allocator: this file replaces the global operator
// new/delete and interposes malloc, calloc, realloc, free and the aligned
// allocators for the whole test binary. Every replacement forwards to glibc
// (__libc_malloc and friends), so the rest of the binary behaves as before;
// it only counts, and only on a thread that switched counting on (the
// counters are thread-local, so other threads' allocations never count).
// Sanitizer builds bring their own allocator: there the tests are skipped.
#include <doctest/doctest.h>

#include <malloc.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <string_view>
#include <thread>

#include "bbx/decoder.hpp"
#include "bbx/task.hpp"
#include "support/capture.hpp"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || defined(__SANITIZE_MEMORY__)
#define BBX_ALLOC_COUNTING 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define BBX_ALLOC_COUNTING 0
#endif
#endif
#ifndef BBX_ALLOC_COUNTING
#define BBX_ALLOC_COUNTING 1
#endif

namespace {

// Per-thread counts; constant-initialised and in the executable's own TLS
// block, so reading them in malloc never allocates.
struct alloc_counts {
    uint64_t mallocs = 0;  // malloc, calloc, realloc, memalign, aligned_alloc, posix_memalign
    uint64_t news = 0;     // operator new, all forms
    uint64_t frees = 0;    // free and operator delete of a non-null pointer
};
constinit thread_local bool t_counting = false;
constinit thread_local alloc_counts t_counts{};

// Counts this thread's allocations from construction to stop().
class counted_region {
public:
    counted_region() {
        t_counts = {};
        t_counting = true;
    }
    ~counted_region() { t_counting = false; }
    alloc_counts stop() {
        t_counting = false;
        return t_counts;
    }
    counted_region(const counted_region&) = delete;
    counted_region& operator=(const counted_region&) = delete;
};

}  // namespace

#if BBX_ALLOC_COUNTING

extern "C" {
void* __libc_malloc(size_t size);
void* __libc_calloc(size_t count, size_t size);
void* __libc_realloc(void* p, size_t size);
void* __libc_memalign(size_t alignment, size_t size);
void __libc_free(void* p);

void* malloc(size_t size) noexcept {
    if (t_counting) ++t_counts.mallocs;
    return __libc_malloc(size);
}
void* calloc(size_t count, size_t size) noexcept {
    if (t_counting) ++t_counts.mallocs;
    return __libc_calloc(count, size);
}
void* realloc(void* p, size_t size) noexcept {
    if (t_counting) ++t_counts.mallocs;
    return __libc_realloc(p, size);
}
void* memalign(size_t alignment, size_t size) noexcept {
    if (t_counting) ++t_counts.mallocs;
    return __libc_memalign(alignment, size);
}
void* aligned_alloc(size_t alignment, size_t size) noexcept {
    if (t_counting) ++t_counts.mallocs;
    return __libc_memalign(alignment, size);
}
int posix_memalign(void** out, size_t alignment, size_t size) noexcept {
    if (alignment < sizeof(void*) || (alignment & (alignment - 1)) != 0) return EINVAL;
    if (t_counting) ++t_counts.mallocs;
    void* p = __libc_memalign(alignment, size);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
void free(void* p) noexcept {
    if (p && t_counting) ++t_counts.frees;
    __libc_free(p);
}
}  // extern "C"

namespace {
void* counted_new(std::size_t size) {
    if (t_counting) ++t_counts.news;
    if (void* p = __libc_malloc(size ? size : 1)) return p;
    throw std::bad_alloc();
}
void* counted_new(std::size_t size, std::align_val_t align) {
    if (t_counting) ++t_counts.news;
    size_t a = size_t(align) < sizeof(void*) ? sizeof(void*) : size_t(align);
    if (void* p = __libc_memalign(a, size ? size : 1)) return p;
    throw std::bad_alloc();
}
void counted_delete(void* p) noexcept {
    if (p && t_counting) ++t_counts.frees;
    __libc_free(p);
}
}  // namespace

// The nothrow forms of libstdc++ call these; so do the sized deletes below.
void* operator new(std::size_t size) { return counted_new(size); }
void* operator new[](std::size_t size) { return counted_new(size); }
void* operator new(std::size_t size, std::align_val_t align) { return counted_new(size, align); }
void* operator new[](std::size_t size, std::align_val_t align) { return counted_new(size, align); }
void operator delete(void* p) noexcept { counted_delete(p); }
void operator delete[](void* p) noexcept { counted_delete(p); }
void operator delete(void* p, std::size_t) noexcept { counted_delete(p); }
void operator delete[](void* p, std::size_t) noexcept { counted_delete(p); }
void operator delete(void* p, std::align_val_t) noexcept { counted_delete(p); }
void operator delete[](void* p, std::align_val_t) noexcept { counted_delete(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { counted_delete(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { counted_delete(p); }

#endif  // BBX_ALLOC_COUNTING

namespace {

// Where the allocation-detector test puts its pointers, so the compiler
// cannot elide an allocation whose result is never used.
void* volatile g_sink = nullptr;

constexpr uint64_t events_per_round = 17;

// One event of every kind the recorder has, 17 in all. The same call sites every
// time: the first call registers them, the later ones must not allocate.
void every_kind(uint64_t i, bbx::resource_id chan) {
    static const char long_text[200] = "a string longer than the 128 bytes an argument keeps, so that it is cut: "
                                       "......................................................................";
    char text[24];
    std::memset(text, 'a' + int(i % 26), sizeof text);
    BBX_INSTANT(INFO, "alloc", "all_types", bbx::arg("i", int64_t(i)), bbx::arg("u", uint64_t(i) * 3),
                bbx::arg("d", double(i) * 0.5), bbx::arg("b", (i & 1) != 0),
                bbx::arg("s", std::string_view(text, sizeof text)), bbx::arg("lit", "a literal"));  // 1
    BBX_INSTANT(INFO, "alloc", "cut", bbx::arg("s", std::string_view(long_text, sizeof long_text - 1)));  // 1
    BBX_INSTANT(WARN, "alloc", "no_args");                                                                // 1
    {
        BBX_SPAN(INFO, "alloc", "span", bbx::arg("i", int64_t(i)));  // 2: begin and end
    }
    BBX_COUNTER(INFO, "alloc", "ints", int64_t(i));        // 1
    BBX_COUNTER(INFO, "alloc", "doubles", double(i) / 7);  // 1

    bbx::task_id t = bbx::new_task_id();
    BBX_TASK_SPAWN("alloc_task", t, bbx::current_task(), 128);  // 1
    bbx::task_wake(t);                                           // 1
    {
        bbx::poll_scope poll(t);  // 2: poll begin and end
        bbx::resource_used(chan, bbx::resource_op::send);  // 1
        bbx::note_await();  // the same await site every time: a cache hit after the first
    }
    {
        bbx::wait_scope wait(chan, bbx::resource_op::recv);  // 2
    }
    bbx::wait_begin(t, chan, bbx::resource_op::lock);  // 1
    bbx::wait_end(t, chan, bbx::resource_op::lock);    // 1
    bbx::task_complete(t);                             // 1
}

}  // namespace

TEST_CASE("the allocation counter counts new, malloc and free on its own thread only, inside its region" *
          doctest::skip(!BBX_ALLOC_COUNTING)) {
    {
        counted_region region;
        g_sink = new int(7);
        delete static_cast<int*>(g_sink);
        g_sink = std::malloc(24);
        std::free(g_sink);
        g_sink = std::calloc(2, 16);
        g_sink = std::realloc(g_sink, 4096);
        std::free(g_sink);
        std::string s(100, 'x');  // a heap buffer: one more new (its delete comes after stop())
        g_sink = s.data();
        alloc_counts mine = region.stop();
        CHECK(mine.mallocs == 3);  // malloc, calloc, realloc
        CHECK(mine.news == 2);     // the int, the string
        CHECK(mine.frees == 3);    // the int, the malloc, the realloc
    }

    // Another thread's allocations count on that thread, never on this one.
    std::atomic<int> step{0};
    alloc_counts theirs;
    std::thread other([&] {
        while (step.load() != 1) std::this_thread::yield();
        counted_region region;
        g_sink = new int(8);
        delete static_cast<int*>(g_sink);
        theirs = region.stop();
        step.store(2);
    });
    alloc_counts mine;
    {
        counted_region region;
        step.store(1);
        while (step.load() != 2) std::this_thread::yield();
        mine = region.stop();
    }
    other.join();
    CHECK(theirs.news == 1);
    CHECK(theirs.frees == 1);
    CHECK(mine.news == 0);
    CHECK(mine.frees == 0);

    // Outside a region nothing is counted.
    alloc_counts before = t_counts;
    g_sink = new int(9);
    delete static_cast<int*>(g_sink);
    CHECK(t_counts.news == before.news);
}

TEST_CASE("recording makes no heap allocation after a thread's first events: instants, spans, counters, task events" *
          doctest::skip(!BBX_ALLOC_COUNTING)) {
    temp_capture tc("alloc");
    bbx::config cfg;
    cfg.path = tc.path.c_str();
    cfg.max_threads = 4;
    REQUIRE(bbx::start(cfg).ok());
    bbx::resource_id chan = bbx::register_resource(bbx::resource_kind::channel, "alloc_queue", 4);
    REQUIRE(chan != 0);

    constexpr uint64_t rounds = 100000;
    alloc_counts counted;
    bool sanity = false;
    std::thread([&] {
        every_kind(0, chan);  // the first events: ring, call sites, await sites may allocate
        {
            // The counter works on this thread: a deliberate allocation is seen.
            counted_region probe;
            g_sink = new int(1);
            delete static_cast<int*>(g_sink);
            sanity = probe.stop().news == 1;
        }
        counted_region region;
        for (uint64_t i = 1; i <= rounds; ++i) every_kind(i, chan);
        counted = region.stop();
    }).join();
    bbx::stop();

    CHECK(sanity);
    CHECK(counted.mallocs == 0);
    CHECK(counted.news == 0);
    CHECK(counted.frees == 0);

    // The events were really recorded (and not, say, gated off): the thread's
    // ring says so, and the capture holds no dropped event.
    auto r = bbx::dec::capture::open(tc.path);
    REQUIRE(!r.is_error());
    bbx::dec::capture& c = *r.value();
    REQUIRE(c.threads().size() == 1);
    CHECK(c.threads()[0].events_written == (rounds + 1) * events_per_round + 1);  // + the owner event (1.3)
    CHECK(c.threads()[0].events_dropped == 0);
    CHECK(c.header().events_dropped == 0);
    CHECK(c.header().sites_dropped == 0);
}
