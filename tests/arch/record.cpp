// The program whose captures tests/arch/ keeps, one recorded on each
// architecture (tests/arch/record.sh runs it natively and under
// qemu-aarch64). It records a fixed sequence, so that the captures differ
// only in what the machine decides (times, counter rate, tids, addresses):
// spans with arguments of every type, strings, counters, two named threads,
// a task's lifecycle, a W3C context, and the same through the C API.
//
//   arch_record CAPTURE
#include <bbx/bbx.h>
#include <bbx/bbx.hpp>
#include <bbx/context.hpp>
#include <bbx/task.hpp>

#include <cstdio>
#include <thread>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: arch_record CAPTURE\n");
        return 2;
    }
    bbx::config cfg;
    cfg.path = argv[1];
    cfg.ring_kb = 4;
    cfg.max_threads = 2;
    cfg.meta_kb = 8;
    if (bbx::start_result r = bbx::start(cfg); !r.ok()) {
        std::fprintf(stderr, "arch_record: %s: %s\n", argv[1], r.message());
        return 1;
    }
    bbx::set_thread_name("arch-main");
    {
        BBX_SPAN(INFO, "arch", "outer", bbx::arg("i64", int64_t(-1) << 40), bbx::arg("u64", ~uint64_t(0)),
                 bbx::arg("f64", -0.125), bbx::arg("bool", true), bbx::arg("str", "little-endian"));
        for (int i = 0; i < 10; ++i) {
            BBX_INSTANT(DEBUG, "arch", "tick", bbx::arg("i", i), bbx::arg("half", i * 0.5));
            BBX_COUNTER(INFO, "arch", "depth", 100 - i);
        }
        BBX_INSTANT(INFO, "arch", "text", bbx::arg("long", "a string of forty-three bytes, across slots"));
        bbx::context_scope ctx(bbx::span_role::server,
                               bbx::parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").context);
        BBX_COUNTER(INFO, "arch", "ratio", 0.75);
    }
    const bbx::task_id task = 7;
    BBX_TASK_SPAWN("arch_task", task, 0, 256);
    bbx::task_wake(task);
    {
        bbx::poll_scope poll(task);
        BBX_INSTANT(INFO, "arch", "in_task");
    }
    bbx::task_complete(task);
    std::thread([] {
        bbx_set_thread_name("arch-c");
        BBXC_SPAN_BEGIN(c_span, INFO, "arch_c", "c_span", BBXC_I64("i64", -7), BBXC_U64("u64", 7),
                        BBXC_F64("f64", 1.5), BBXC_BOOL("bool", 1), BBXC_STR("str", "from C"));
        BBXC_COUNTER_I64(INFO, "arch_c", "c_count", 3);
        BBXC_COUNTER_F64(INFO, "arch_c", "c_ratio", 0.5);
        BBXC_SPAN_END(c_span);
    }).join();
    bbx::stop();
    return 0;
}
