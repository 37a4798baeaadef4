// The C API (bbx/bbx.h): thin functions over the C++ recorder. A C event
// goes through the same registration and the same encoder (detail::
// pack_payload, detail::write_event) as a C++ one; only its argument types
// are read at run time from its call site instead of at compile time.
#include "bbx/bbx.h"

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "bbx/bbx.hpp"
#include "bbx/crash.hpp"

namespace bbx::detail {
namespace {

namespace fmt = ::bbx::format;

// A C call site is a site_ref followed by a site_info, field for field.
static_assert(sizeof(site_ref) == sizeof(uint64_t) && alignof(site_ref) == alignof(uint64_t));
static_assert(std::atomic<uint64_t>::is_always_lock_free);
using c_info = decltype(bbx_detail_site::info);
static_assert(sizeof(c_info) == sizeof(site_info) && alignof(c_info) == alignof(site_info));
static_assert(offsetof(c_info, kind) == offsetof(site_info, kind));
static_assert(offsetof(c_info, level) == offsetof(site_info, level));
static_assert(offsetof(c_info, nargs) == offsetof(site_info, nargs));
static_assert(offsetof(c_info, types) == offsetof(site_info, types));
static_assert(sizeof(c_info::types) == sizeof(site_info::types));
static_assert(offsetof(c_info, category) == offsetof(site_info, category));
static_assert(offsetof(c_info, name) == offsetof(site_info, name));
static_assert(offsetof(c_info, file) == offsetof(site_info, file));
static_assert(offsetof(c_info, line) == offsetof(site_info, line));
static_assert(offsetof(c_info, function) == offsetof(site_info, function));
static_assert(sizeof(bbx_detail_site::arg_names) / sizeof(const char*) == fmt::max_args);
// A value is its argument's word: read as uint64_t below.
static_assert(sizeof(bbx_detail_value) == sizeof(uint64_t));

static_assert(int(start_status::ok) == BBX_OK && int(start_status::already_started) == BBX_ALREADY_STARTED &&
              int(start_status::bad_config) == BBX_BAD_CONFIG && int(start_status::file_exists) == BBX_FILE_EXISTS &&
              int(start_status::open_failed) == BBX_OPEN_FAILED && int(start_status::no_space) == BBX_NO_SPACE &&
              int(start_status::map_failed) == BBX_MAP_FAILED &&
              int(start_status::not_configured) == BBX_NOT_CONFIGURED);

site_ref& ref_of(bbx_detail_site* s) { return *reinterpret_cast<site_ref*>(&s->state); }
const site_info& info_of(const bbx_detail_site* s) { return *reinterpret_cast<const site_info*>(&s->info); }

// The event kind a site of this kind begins with (a span's end is bbx_detail_span_end).
fmt::kind event_kind(uint8_t site_kind) {
    switch (fmt::site_kind(site_kind)) {
        case fmt::site_kind::span: return fmt::kind::span_begin;
        case fmt::site_kind::counter: return fmt::kind::counter;
        default: return fmt::kind::instant;
    }
}

// A C string argument: trivially constructed, unlike std::string_view, so
// that the array of them costs nothing until a string is put in it.
struct c_string {
    const char* p;
    size_t n;
    const char* data() const { return p; }
    size_t size() const { return n; }
};

bbx_status c_status(const start_result& r) {
    errno = r.sys_errno;
    return bbx_status(int(r.status));
}

}  // namespace
}  // namespace bbx::detail

using namespace bbx::detail;
namespace fmt = ::bbx::format;

extern "C" {

uint64_t bbx_detail_event(bbx_detail_site* s, uint64_t gate, const bbx_detail_value* values) {
    thread_ring* r = &t_ring;
    const uint32_t session = uint32_t(gate >> 8);
    if (__builtin_expect(r->session != session, 0)) {
        if (!acquire_ring(gate)) return r->session == session ? gate : 0;
    }
    site_ref& ref = ref_of(s);
    uint64_t st = ref.state.load(std::memory_order_acquire);
    if (__builtin_expect(uint32_t(st >> 32) != session || uint32_t(st) == 0, 0)) {
        st = register_site(ref, info_of(s), s->arg_names, session);
        if (st == 0) return gate;
    }
    const uint64_t ticks = now_ticks();
    const uint32_t n = s->info.nargs < fmt::max_args ? s->info.nargs : fmt::max_args;
    const fmt::kind k = event_kind(s->info.kind);
    // The values are the argument words (integers two's complement, bools 0
    // or 1, doubles their IEEE-754 bits, as word_of makes them), then a zero.
    const uint64_t* value_words = reinterpret_cast<const uint64_t*>(values);
    if (s->nstrings == 0) {
        // Without strings, words 1..n-1 and the zero pad are the payload as they stand.
        write_event(r, k, uint32_t(st), ticks, value_words[0], value_words + 1,
                    fmt::v2::continuation_slots(n > 0 ? n - 1 : 0, 0));
        return gate;
    }
    uint64_t words[fmt::max_args + 1];
    c_string strings[fmt::max_args];
    uint32_t nstr = 0;
    for (uint32_t i = 0; i < n; ++i) {
        if (fmt::arg_type(s->info.types[i]) == fmt::arg_type::string) {
            const char* text = values[i].s ? values[i].s : "";  // NULL records ""
            const size_t len = strnlen(text, fmt::max_string_bytes);  // cut, as word_of cuts
            strings[nstr++] = {text, len};
            words[i] = len;
        } else {
            words[i] = value_words[i];
        }
    }
    words[n] = 0;
    uint64_t units[max_payload_units];
    const uint32_t cont = pack_payload(units, words, n, strings, nstr);
    if (__builtin_expect(cont > r->max_cont, 0)) {  // larger than this ring takes (thread_ring::max_cont)
        count_drop();
        return gate;
    }
    write_event(r, k, uint32_t(st), ticks, words[0], units, cont);
    return gate;
}

void bbx_detail_span_end(bbx_detail_site* s, uint64_t gate) {
    if (gate_load() >> 8 == gate >> 8) emit(fmt::kind::span_end, ref_of(s), info_of(s), gate);
}

bbx_status bbx_start(const bbx_config* cfg) {
    bbx::config c;
    if (cfg) {
        c.path = cfg->path;
        c.ring_kb = cfg->ring_kb;
        c.max_threads = cfg->max_threads;
        c.meta_kb = cfg->meta_kb;
        c.level = cfg->level ? cfg->level : BBX_LEVEL_TRACE;
        c.discard = cfg->discard != 0;
    }
    return c_status(bbx::start(c));
}

bbx_status bbx_start_from_env(void) { return c_status(bbx::start_from_env()); }

const char* bbx_status_message(bbx_status status) {
    if (int(status) < BBX_OK || int(status) > BBX_NOT_CONFIGURED) return "unknown status";
    return bbx::start_result{bbx::start_status(int(status))}.message();
}

void bbx_stop(void) { bbx::stop(); }
void bbx_set_level(int level) { bbx::set_level(level); }
int bbx_level(void) { return bbx::level(); }
void bbx_set_thread_name(const char* name) { bbx::set_thread_name(name); }
const char* bbx_current_path(void) { return bbx::current_path(); }
int bbx_install_crash_handler(void) { return bbx::install_crash_handler() ? 1 : 0; }

}  // extern "C"
