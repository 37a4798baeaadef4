// bbx: the blackbox command-line tool, a thin main over the decoder library.
// Exit codes: 0 success, 1 bad input (or a failed write), 2 bad usage.
#include <mimalloc-new-delete.h>  // mimalloc serves every allocation of the tool
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bbx/decoder.hpp"

namespace {

const char* const usage_main =
    "usage: bbx <verb> [options] FILE\n"
    "\n"
    "Reads blackbox captures: a live ring file, one left by a crashed or killed\n"
    "process, or a finished one. FILE may be - for standard input.\n"
    "\n"
    "verbs:\n"
    "  info      summary: process, clock, threads, call sites, event counts\n"
    "  dump      every event, one per line: time thread kind category name args\n"
    "  convert   write a trace for another viewer (Perfetto, Chrome JSON, OTLP)\n"
    "  analyze   async tasks: busy, scheduled and idle time per task, busy\n"
    "            threads, and warnings (long polls, lost wakes, deadlocks)\n"
    "  merge     captures of several processes on one timeline, clocks aligned,\n"
    "            with arrows from client spans to the server spans they caused\n"
    "  snapshot  copy a ring file, also one still being written, into a compressed\n"
    "            capture (LZ4 chunks with checksums) that every verb reads\n"
    "  top       a live view of a running process: its tasks, threads and the\n"
    "            warnings that hold now (a poll running long, a deadlock), refreshed\n"
    "            every second; --once prints one frame\n"
    "\n"
    "Run 'bbx <verb> --help' for a verb's options. Exit status: 0 success,\n"
    "1 bad input or failed output, 2 bad usage.\n";

// The filter options, in the help of every verb that reads events.
#define BBX_FILTER_HELP                                                                \
    "\n"                                                                               \
    "filters (an event must pass every one given):\n"                                 \
    "  --level L        sites at level L or more severe: error, warn, info, debug,\n"  \
    "                   trace (or 1-5); task events have no level and pass\n"         \
    "  --category C     sites in category C, or starting with P for P*; a comma\n"     \
    "                   list or repeated; task events are in category \"task\"\n"     \
    "  --thread T       thread T3 (or 3), a tid, or a thread name; a comma list or\n"\
    "                   repeated\n"                                                   \
    "  --task ID        the task's own events, and everything on a thread while\n"    \
    "                   it is polled there; a comma list or repeated\n"               \
    "  --since TIME     the window, both ends included. TIME: 1.5s, 250ms, 10us,\n"   \
    "  --until TIME     100ns (a bare number: seconds) after the capture's start;\n"  \
    "                   negative: before its last event (--since -2s: the last two\n" \
    "                   seconds); or wall-clock RFC 3339 (2026-11-26T07:40:00.5Z)\n"  \
    "  --name REGEX     names in which the ECMAScript REGEX is found (task events:\n"  \
    "                   the name their task was spawned with)\n"                      \
    "  --user-only      what the program annotated: no task events, no \"asio\" or\n"  \
    "                   \"await\" sites\n"                                            \
    "  Thread names and crash records pass all but --thread and the window. An\n"    \
    "  end is kept with its begin, even past --until; spans, polls and waits open\n"  \
    "  at --since come first, at their own times.\n"

const char* const usage_info =
    "usage: bbx info [--symbols [PROGRAM]] [filters] FILE\n"
    "\n"
    "Prints the capture's header (process, start time, clock, mode, how it\n"
    "ended), its threads with events readable, overwritten, dropped and torn,\n"
    "each ring's history (the time its events span, their rate, the ring bytes\n"
    "per second and how long a ring of this size holds at that rate; format 2.0\n"
    "also the ring bytes per event it holds), its crash\n"
    "records, and its call sites. With filters, its first line says\n"
    "so, and the counts, the span and the threads' events are of the events\n"
    "that pass.\n"
    "\n"
    "  --symbols [PROGRAM]  show each crash record's stack as functions and\n"
    "                       source lines (runs addr2line), read from PROGRAM or\n"
    "                       else from the executable the capture names\n"
    BBX_FILTER_HELP;

const char* const usage_dump =
    "usage: bbx dump [-o OUT] [--symbols [PROGRAM]] [filters] FILE\n"
    "\n"
    "Prints every readable event, oldest first, one per line:\n"
    "  seconds-since-start  T<ring>  kind  category  name  arg=value...\n"
    "Strings are quoted; bytes that are not valid UTF-8 show as \\xNN.\n"
    "The last line says what the capture lost: \"# losses: none\" or the counts.\n"
    "Stall stacks (format 1.4) are listed among the events at their times, one\n"
    "line per sample, its stack innermost frame first:\n"
    "  seconds  T<ring>  stall  -  -  sample=N stack=FRAME < FRAME < ...\n"
    "each frame \"function at file:line\" (read from the objects the capture\n"
    "names, by addr2line), \"?? (object+0xOFFSET)\" without a symbol, or its\n"
    "address; the vDSO is [vdso]. Only --thread and --since/--until drop them.\n"
    "\n"
    "  -o OUT               write to OUT instead of standard output\n"
    "  --symbols [PROGRAM]  show each crash record's stack as functions and\n"
    "                       source lines (runs addr2line), read from PROGRAM or\n"
    "                       else from the executable the capture names\n"
    BBX_FILTER_HELP;

const char* const usage_convert =
    "usage: bbx convert FILE --to perfetto|chrome|otlp [-o OUT] [filters]\n"
    "\n"
    "  --to perfetto   Perfetto protobuf trace; open it at https://ui.perfetto.dev\n"
    "  --to chrome     Chrome trace-event JSON; open it in chrome://tracing,\n"
    "                  ui.perfetto.dev or speedscope (large captures: prefer perfetto)\n"
    "  --to otlp       OpenTelemetry spans as OTLP/JSON Lines (one TracesData per\n"
    "                  line), read by the OpenTelemetry Collector (otlpjsonfile)\n"
    "  -o OUT          output path, - for standard output; default: FILE with\n"
    "                  .pftrace, .json or .jsonl appended. The output is written to a\n"
    "                  temporary file and renamed into place when complete.\n"
    "What the capture lost (threads without a ring, events overwritten or\n"
    "dropped, call sites without metadata) is stated inside the output, and on\n"
    "standard error when something was.\n"
    BBX_FILTER_HELP;

const char* const usage_analyze =
    "usage: bbx analyze [--json] [--all] [--long-poll MS] [-o OUT] [filters] FILE\n"
    "\n"
    "What the async tasks in the capture did (task events, format 1.1): per\n"
    "task its polls, busy, scheduled (woken until polled) and idle time, wakes,\n"
    "longest poll and state at the end; per thread the share of time spent in\n"
    "polls. A thread's time inside nested polls counts to the innermost one\n"
    "only, so no time counts twice. Then warnings, each with its task, time and\n"
    "source line: a poll that blocked its thread while woken tasks waited, a\n"
    "task woken but never polled again, a lost wake, a task that mostly wakes\n"
    "itself, deadlock cycles of tasks waiting on each other's channels, and the\n"
    "recorder's own limits hit (tasks or objects it could not track, with how\n"
    "many). A self-wake is a task making itself runnable again in its own poll\n"
    "with no event in between (a yield, a handler that posts itself); I/O that\n"
    "completed, at once or as an inner step of a composed operation, is an\n"
    "event. It states what the capture lost, and when the rings' window cut\n"
    "the analysis short (rings that wrapped or filled, tasks never seen\n"
    "spawned) the ring_kb that would have held the whole run. Warnings are\n"
    "findings: the exit status is 0 with or without them. With filters the\n"
    "analysis sees only the events that pass, and concludes from them alone:\n"
    "--task keeps one task's events (not the tasks waiting on it), --user-only\n"
    "leaves no task events, a window hides the history before it.\n"
    "\n"
    "  --json          one JSON object: capture, tasks (all), threads, warnings;\n"
    "                  times in nanoseconds since the capture's start\n"
    "  --all           list every task (default: the 50 busiest)\n"
    "  --long-poll MS  a poll longer than MS milliseconds is a warning, and so is\n"
    "                  a task woken (or missing its wake) that long at the end\n"
    "                  (default 10)\n"
    "  -o OUT          write to OUT instead of standard output\n"
    BBX_FILTER_HELP;

const char* const usage_merge =
    "usage: bbx merge FILE FILE... --to perfetto|chrome|otlp -o OUT [--verbose]\n"
    "                 [--no-correct] [filters]\n"
    "\n"
    "Puts the captures of several processes on one timeline, one process each,\n"
    "with an arrow from each client span to the server span it caused (spans\n"
    "with trace contexts, bbx::context_scope). The first FILE is the reference:\n"
    "the others are aligned to its clocks, by CLOCK_MONOTONIC when both ran in\n"
    "one boot of one host (equal boot ids), else by CLOCK_REALTIME. Where that\n"
    "puts a server span outside its client span, the capture is moved by the\n"
    "clock offset its request/response pairs show (estimated as NTP does, from\n"
    "the four times of each pair).\n"
    "\n"
    "  --to perfetto|chrome|otlp  the output format, as for bbx convert\n"
    "  -o OUT          output path, - for standard output. The output is written\n"
    "                  to a temporary file and renamed into place when complete.\n"
    "  --verbose       per capture, on standard error: pid, process, clock\n"
    "                  alignment, matched pairs, the offset estimated with its\n"
    "                  uncertainty, and the correction applied\n"
    "  --no-correct    align by the clocks alone (the pairs are still measured)\n"
    "\n"
    "Filters choose what is written, in every capture; the clocks are aligned\n"
    "from all events. A --thread need name a thread of one capture only. A\n"
    "relative --since or --until counts in each capture's own time: give\n"
    "wall-clock times to cut every capture at one moment.\n"
    BBX_FILTER_HELP;

const char* const usage_snapshot =
    "usage: bbx snapshot [--level N] -o OUT FILE\n"
    "\n"
    "Copies a ring file into a self-contained capture: its image, compressed with\n"
    "LZ4 in chunks of 64 KiB, each with CRC-32C checksums, so that damage is found\n"
    "and named by chunk. The writers of FILE may still be running: each event\n"
    "slot is copied under its sequence lock, so an event being written shows as\n"
    "torn (and is skipped), never as a mix of two events. Every bbx verb reads\n"
    "the result. FILE may be - for standard input, or itself a snapshot.\n"
    "\n"
    "  -o OUT      the capture to write, with mode 0600; - for standard output.\n"
    "              An existing OUT is an error: nothing is overwritten.\n"
    "  --level N   1 (default) or 2: LZ4's fast compressor; 3 to 12: LZ4 HC,\n"
    "              smaller and slower to write (as lz4 -1 .. -12); reading is\n"
    "              as fast either way\n";

const char* const usage_top =
    "usage: bbx top [--once | --json] [--interval S] [--long-poll MS] [--sort KEY]\n"
    "               [--name TEXT] [--done] [--all] FILE\n"
    "\n"
    "A live view of the process writing the ring file FILE (it works on a dead\n"
    "process's file or a snapshot too: then \"now\" is the capture's last event).\n"
    "Every refresh reads only what was written since the last one, and never\n"
    "disturbs the writer; slots the writer overwrote before they were read are\n"
    "counted as lost. It shows:\n"
    "  - warnings that hold now: a poll running longer than --long-poll (with\n"
    "    the spans open on its thread), a task woken that long ago and not\n"
    "    polled since, a deadlock cycle of tasks waiting on each other's\n"
    "    channels (each wait with its await site)\n"
    "  - threads that polled tasks: busy % since the last refresh, polls, the\n"
    "    poll running now\n"
    "  - tasks not done (--done: all): state (running, scheduled, idle, done),\n"
    "    polls, busy time, p99 of the time from a wake to the next poll (its\n"
    "    last 256), wakes, and the await site it is suspended at with how long\n"
    "\n"
    "  --once          print one frame to standard output and exit\n"
    "  --json          print one JSON document (every task; times in ns since\n"
    "                  the capture's start) and exit\n"
    "  --interval S    seconds between refreshes (default 1)\n"
    "  --long-poll MS  the threshold of the warnings, in milliseconds (default 10)\n"
    "  --sort KEY      busy (default), polls, wakes, sched, since, name or id\n"
    "  --name TEXT     only tasks whose name holds TEXT (any case)\n"
    "  --done          list the tasks that completed too\n"
    "  --all           --once: every task listed (default: the first 50)\n"
    "\n"
    "keys: q quit; space pause; / filter by name; b p w s a n i sort by busy,\n"
    "polls, wakes, sched p99, await since, name, id; r reverse; d done tasks\n"
    "too; up/down or k/j select a task; Enter its spawn site, await history and\n"
    "waits; Esc back; ? keys. The terminal is restored on q, SIGINT, SIGTERM and\n"
    "SIGHUP.\n";

int usage_error(const char* verb_usage, const std::string& what) {
    std::fprintf(stderr, "bbx: %s\n%s", what.c_str(), verb_usage);
    return 2;
}

bool is_help(const std::string& a) { return a == "-h" || a == "--help"; }

struct options {
    std::string file, out, to;
    bool help = false;
    bool symbols = false;     // --symbols given
    std::string symbols_exe;  // its PROGRAM ("" = the capture's exe_path)
    bbx::dec::filter_spec filter;
};

// The filter options, shared by every verb that reads events: --opt VALUE,
// --opt=VALUE, or --user-only. Returns 1 when argv[i] is one (i is then at
// its value), 0 when it is not, -1 on a usage error (in err).
int parse_filter_option(int argc, char** argv, int& i, bbx::dec::filter_spec& fs, std::string& err) {
    std::string a = argv[i], value;
    const size_t eq = a.find('=');
    const bool inline_value = a.rfind("--", 0) == 0 && eq != std::string::npos;
    if (inline_value) value = a.substr(eq + 1), a.resize(eq);
    const int arity = bbx::dec::filter_spec::arity(a);
    if (arity < 0) return 0;
    if (arity == 0 && inline_value) {
        err = "option " + a + " takes no value";
        return -1;
    }
    if (arity == 1 && !inline_value) {
        if (++i == argc) {
            err = "option " + a + " needs a value";
            return -1;
        }
        value = argv[i];  // even one starting with '-': --since -2s
    }
    err = fs.add(a, value);
    return err.empty() ? 1 : -1;
}

// Parses [-o OUT] [--to FMT] [--symbols [PROGRAM]] FILE in any order.
// Returns an error text or "".
std::string parse(int argc, char** argv, options& o, bool allow_to, bool allow_out, bool allow_symbols = false) {
    // The word after a bare --symbols is its PROGRAM if another word is the
    // FILE, else it is the FILE: decided at the end.
    int symbols_at = -2;
    std::string after_symbols, ferr;
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        if (is_help(a)) {
            o.help = true;
        } else if (allow_symbols && a == "--symbols") {
            o.symbols = true;
            symbols_at = i;
        } else if (allow_symbols && a.rfind("--symbols=", 0) == 0) {
            o.symbols = true;
            o.symbols_exe = a.substr(10);
            if (o.symbols_exe.empty()) return "option --symbols= needs a program";
        } else if (i == symbols_at + 1 && o.symbols_exe.empty() && !(a.size() > 1 && a[0] == '-')) {
            after_symbols = a;
        } else if (allow_out && (a == "-o" || a == "--output")) {
            if (++i == argc) return "option " + a + " needs a path";
            o.out = argv[i];
        } else if (allow_out && a.rfind("--output=", 0) == 0) {
            o.out = a.substr(9);
        } else if (allow_to && a == "--to") {
            if (++i == argc) return "option --to needs a format (perfetto, chrome or otlp)";
            o.to = argv[i];
        } else if (allow_to && a.rfind("--to=", 0) == 0) {
            o.to = a.substr(5);
        } else if (int fr = parse_filter_option(argc, argv, i, o.filter, ferr); fr != 0) {
            if (fr < 0) return ferr;
        } else if (a.size() > 1 && a[0] == '-') {
            return "unknown option '" + a + "'";
        } else if (o.file.empty()) {
            o.file = a;
        } else {
            return "more than one input file ('" + o.file + "' and '" + a + "')";
        }
    }
    if (!after_symbols.empty()) (o.file.empty() ? o.file : o.symbols_exe) = after_symbols;
    if (!o.help && o.file.empty()) return "no input file";
    return "";
}

using capture_ptr = std::shared_ptr<bbx::dec::capture>;

// How messages name an input file.
std::string input_name(const std::string& file) { return file == "-" ? "<stdin>" : file; }

// An OTLP output with no span: said on stderr, so that an empty file is
// not taken for a failed export; the conversion itself succeeded (exit 0).
void nothing_to_export(const std::string& what, bool filtered) {
    std::fprintf(stderr, "bbx: %s: nothing to export to OTLP: no spans, tasks or crash records%s; the output has no lines\n",
                 what.c_str(), filtered ? " in what the filters keep" : "");
}

// Whether a writer failed reading its capture (not writing its output: those
// errors say "write failed").
bool read_error(bool ok, const std::string& err) { return !ok && !err.empty() && err.rfind("write failed", 0) != 0; }

// Opens FILE (or reads standard input); on failure prints the error and returns null.
capture_ptr open_input(const std::string& file) {
    // Standard input is read only as far as a capture goes (capture::from_fd).
    bbx::dec::result<capture_ptr> r =
        file == "-" ? bbx::dec::capture::from_fd(0, "-") : bbx::dec::capture::open(file);
    if (r.is_error()) {
        std::fprintf(stderr, "bbx: %s: %s\n", file == "-" ? "<stdin>" : file.c_str(), r.err().message().c_str());
        return nullptr;
    }
    return r.value();
}

// An output that becomes visible only once complete.
struct output {
    std::string path, tmp;
    std::FILE* f = nullptr;
    bool direct = false;  // writing straight to a device or FIFO

    bool open(const std::string& p) {
        path = p;
        if (p == "-" || p.empty()) {
            f = stdout;
            return true;
        }
        // A device or a FIFO (/dev/null, a pipe) is written as it is: renaming a
        // temporary file over it would replace the device (as root, for everyone).
        struct stat st;
        if (stat(p.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
            if (S_ISDIR(st.st_mode)) {
                std::fprintf(stderr, "bbx: %s: is a directory\n", p.c_str());
                return false;
            }
            f = std::fopen(p.c_str(), "wb");
            if (!f) std::fprintf(stderr, "bbx: %s: cannot open: %s\n", p.c_str(), std::strerror(errno));
            direct = f != nullptr;
            return direct;
        }
        tmp = p + ".tmp." + std::to_string(getpid());
        // 0600, as the capture: a trace holds the same data (argument strings, paths).
        int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        f = fd < 0 ? nullptr : fdopen(fd, "wb");
        if (!f) {
            if (fd >= 0) close(fd);
            std::fprintf(stderr, "bbx: %s: cannot create: %s\n", tmp.c_str(), std::strerror(errno));
            return false;
        }
        // Enough for writers that go line by line (dump). The converters hand
        // over blocks of 1 MiB: a stdio buffer that large took a copy of each
        // whole block; one this size copies only a block's head and tail.
        static char buf[1 << 16];
        std::setvbuf(f, buf, _IOFBF, sizeof buf);
        return true;
    }
    // Closes and renames; on failure removes the temporary file.
    bool finish(bool ok) {
        if (f == stdout) {
            if (std::fflush(stdout) != 0) ok = false;
            return ok;
        }
        if (direct) {
            if (std::fclose(f) != 0) ok = false;
            f = nullptr;
            return ok;
        }
        if (std::fclose(f) != 0) ok = false;
        f = nullptr;
        if (ok && std::rename(tmp.c_str(), path.c_str()) != 0) {
            std::fprintf(stderr, "bbx: %s: cannot rename into place: %s\n", path.c_str(), std::strerror(errno));
            ok = false;
        }
        if (!ok) std::remove(tmp.c_str());
        return ok;
    }
};

using filter_ptr = std::shared_ptr<const bbx::dec::event_filter>;

// Binds the filter options to the capture (into f; null when none are
// given). Returns 0, or the exit status after printing why not: 2 when they
// do not fit the capture (a thread it does not have, an empty window), 1
// when it could not be read.
int make_filter(const bbx::dec::filter_spec& fs, const bbx::dec::capture& c, const std::string& file, const char* verb_usage,
                filter_ptr& f) {
    f = nullptr;
    if (fs.empty()) return 0;
    bbx::dec::filter_error fe;
    f = bbx::dec::event_filter::make(fs, c, fe);
    if (f) return 0;
    const std::string who = file == "-" ? "<stdin>" : file;
    if (fe.usage) return usage_error(verb_usage, who + ": " + fe.what);
    std::fprintf(stderr, "bbx: %s: %s\n", who.c_str(), fe.what.c_str());
    return 1;
}

// make_filter for bbx merge, one filter per capture (into fs_out): a --thread
// need only name a thread of one capture.
int make_merge_filters(const bbx::dec::filter_spec& fs, const std::vector<const bbx::dec::capture*>& caps,
                       const std::vector<std::string>& files, std::vector<filter_ptr>& fs_out) {
    fs_out.assign(caps.size(), nullptr);
    if (fs.empty()) return 0;
    std::vector<std::string> nowhere;  // --thread values no capture has
    for (size_t k = 0; k < caps.size(); ++k) {
        bbx::dec::filter_error fe;
        auto f = bbx::dec::event_filter::make(fs, *caps[k], fe, false);
        const std::string who = files[k] == "-" ? "<stdin>" : files[k];
        if (!f) {
            if (fe.usage) return usage_error(usage_merge, who + ": " + fe.what);
            std::fprintf(stderr, "bbx: %s: %s\n", who.c_str(), fe.what.c_str());
            return 1;
        }
        const auto& un = f->unmatched_threads();
        if (k == 0) nowhere = un;
        else std::erase_if(nowhere, [&](const std::string& t) { return std::find(un.begin(), un.end(), t) == un.end(); });
        fs_out[k] = std::move(f);
    }
    if (!nowhere.empty()) return usage_error(usage_merge, "--thread: no capture has a thread '" + nowhere[0] + "'");
    return 0;
}

// --symbols: the executable to read (given, or the one the capture names),
// checked before any output. When it cannot be read and the events the verb
// reads hold no crash record, there is nothing to symbolise: the verb goes
// on without it. On failure prints the error (the path escaped: it may come
// from the capture) and returns false.
bool symbols_for(const options& o, const bbx::dec::input& in, bbx::dec::crash_options& co) {
    if (!o.symbols) return true;
    co.symbols = o.symbols_exe.empty() ? in.cap->header().exe_path : o.symbols_exe;
    bool crashes = false;
    auto any_crash = [&] {
        auto r = in.read([&](const bbx::dec::event& e) { crashes = crashes || e.kind == bbx::format::kind::crash; });
        return r.is_error() || crashes;  // (a read error: the verb will name it)
    };
    if (co.symbols.empty()) {
        if (!any_crash()) return true;
        std::fprintf(stderr, "bbx: %s: the capture names no executable: give --symbols PROGRAM\n", o.file.c_str());
        return false;
    }
    auto s = bbx::dec::symbolizer::open(co.symbols);
    if (s.is_error()) {
        if (!any_crash()) {
            co.symbols.clear();
            return true;
        }
        std::fprintf(stderr, "bbx: %s\n", s.err().what.c_str());
        return false;
    }
    return true;
}

int cmd_info(int argc, char** argv) {
    options o;
    if (auto e = parse(argc, argv, o, false, false, true); !e.empty()) return usage_error(usage_info, e);
    if (o.help) return std::fputs(usage_info, stdout), 0;
    capture_ptr c = open_input(o.file);
    if (!c) return 1;
    filter_ptr f;
    if (int rc = make_filter(o.filter, *c, o.file, usage_info, f)) return rc;
    bbx::dec::crash_options co;
    if (!symbols_for(o, {*c, f.get()}, co)) return 1;
    if (!o.filter.empty())
        std::printf("%-12s%s (counts, span and threads: the events that pass)\n", "filtered", o.filter.describe().c_str());
    std::string err;
    if (!bbx::dec::write_info({*c, f.get()}, stdout, err, co)) {
        std::fprintf(stderr, "bbx: %s: %s\n", o.file.c_str(), err.c_str());
        return 1;
    }
    return 0;
}

int cmd_dump(int argc, char** argv) {
    options o;
    if (auto e = parse(argc, argv, o, false, true, true); !e.empty()) return usage_error(usage_dump, e);
    if (o.help) return std::fputs(usage_dump, stdout), 0;
    capture_ptr c = open_input(o.file);
    if (!c) return 1;
    filter_ptr f;
    if (int rc = make_filter(o.filter, *c, o.file, usage_dump, f)) return rc;
    bbx::dec::crash_options co;
    if (!symbols_for(o, {*c, f.get()}, co)) return 1;
    output out;
    if (!out.open(o.out)) return 1;
    std::string err;
    bool ok = bbx::dec::write_dump({*c, f.get()}, out.f, err, co);
    if (!out.finish(ok)) {
        // A capture that could not be read is named, else the output.
        const std::string who = read_error(ok, err) ? input_name(o.file) : o.out.empty() ? "<stdout>" : o.out;
        std::fprintf(stderr, "bbx: %s: %s\n", who.c_str(), err.empty() ? "write failed" : err.c_str());
        return 1;
    }
    return 0;
}

int cmd_convert(int argc, char** argv) {
    options o;
    if (auto e = parse(argc, argv, o, true, true); !e.empty()) return usage_error(usage_convert, e);
    if (o.help) return std::fputs(usage_convert, stdout), 0;
    if (o.to.empty()) return usage_error(usage_convert, "convert needs --to perfetto, --to chrome or --to otlp");
    if (o.to != "perfetto" && o.to != "chrome" && o.to != "otlp")
        return usage_error(usage_convert, "unknown output format '" + o.to + "' (perfetto, chrome or otlp)");
    if (o.out.empty()) {
        if (o.file == "-") return usage_error(usage_convert, "reading standard input needs -o OUT (or -o - for stdout)");
        o.out = o.file + (o.to == "perfetto" ? ".pftrace" : o.to == "otlp" ? ".jsonl" : ".json");
    }
    if (o.out == "-" && o.to == "perfetto" && isatty(1))
        return usage_error(usage_convert, "refusing to write a binary trace to a terminal");
    capture_ptr c = open_input(o.file);
    if (!c) return 1;
    filter_ptr f;
    if (int rc = make_filter(o.filter, *c, o.file, usage_convert, f)) return rc;
    output out;
    if (!out.open(o.out)) return 1;
    std::string err;
    const bbx::dec::input in(*c, f.get());
    uint64_t spans = 0;
    bbx::dec::losses lost;
    bool ok = o.to == "perfetto" ? bbx::dec::write_perfetto(in, out.f, err, &lost)
              : o.to == "otlp"   ? bbx::dec::write_otlp(in, out.f, err, &spans, &lost)
                                 : bbx::dec::write_chrome(in, out.f, err, &lost);
    if (!out.finish(ok)) {
        const std::string who = read_error(ok, err) ? input_name(o.file) : o.out == "-" ? "<stdout>" : o.out;
        std::fprintf(stderr, "bbx: %s: %s\n", who.c_str(), err.empty() ? "write failed" : err.c_str());
        return 1;
    }
    if (o.to == "otlp" && spans == 0) nothing_to_export(input_name(o.file), !o.filter.empty());
    // The output states the losses too; a conversion is often not looked at
    // by the one who ran it, so say it here as well.
    if (lost.any()) std::fprintf(stderr, "bbx: %s: the capture lost data: %s\n", input_name(o.file).c_str(), lost.text().c_str());
    return 0;
}

int cmd_top(int argc, char** argv) {
    bbx::dec::top_options to;
    bool once = false, json = false;
    std::string file;
    auto number = [&](int& i, const std::string& a, double lo, double hi, double& out) -> bool {
        std::string v;
        const size_t eq = a.find('=');
        if (eq != std::string::npos) v = a.substr(eq + 1);
        else if (i + 1 < argc) v = argv[++i];
        else return false;
        char* end = nullptr;
        errno = 0;
        out = std::strtod(v.c_str(), &end);
        return !v.empty() && *end == '\0' && errno == 0 && out >= lo && out <= hi;
    };
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        const std::string opt = a.substr(0, a.find('='));
        if (is_help(a)) return std::fputs(usage_top, stdout), 0;
        if (a == "--once") {
            once = true;
        } else if (a == "--json") {
            json = true;
        } else if (a == "--all") {
            to.all = true;
        } else if (a == "--done") {
            to.done = true;
        } else if (opt == "--interval") {
            double s;
            if (!number(i, a, 0.05, 3600, s))
                return usage_error(usage_top, "--interval needs a number of seconds from 0.05 to 3600");
            to.interval_ns = int64_t(s * 1e9);
        } else if (opt == "--long-poll") {
            double ms;
            if (!number(i, a, 1e-6, 1e9, ms)) return usage_error(usage_top, "--long-poll needs a positive number of milliseconds");
            to.long_poll_ns = std::max<int64_t>(1, int64_t(ms * 1e6));
        } else if (opt == "--sort" || opt == "--name") {
            std::string v;
            if (a.find('=') != std::string::npos) v = a.substr(a.find('=') + 1);
            else if (i + 1 < argc) v = argv[++i];
            else return usage_error(usage_top, "option " + opt + " needs a value");
            if (opt == "--name") {
                to.name = v;
                continue;
            }
            static const std::pair<const char*, bbx::dec::top_sort> keys[] = {
                {"busy", bbx::dec::top_sort::busy},   {"polls", bbx::dec::top_sort::polls}, {"wakes", bbx::dec::top_sort::wakes},
                {"sched", bbx::dec::top_sort::sched}, {"since", bbx::dec::top_sort::since}, {"name", bbx::dec::top_sort::name},
                {"id", bbx::dec::top_sort::id}};
            bool found = false;
            for (const auto& [k, s] : keys)
                if (v == k) to.sort = s, found = true;
            if (!found) return usage_error(usage_top, "unknown sort key '" + v + "'");
        } else if (a.size() > 1 && a[0] == '-') {
            return usage_error(usage_top, "unknown option '" + a + "'");
        } else if (file.empty()) {
            file = a;
        } else {
            return usage_error(usage_top, "more than one input file ('" + file + "' and '" + a + "')");
        }
    }
    if (file.empty()) return usage_error(usage_top, "no input file");
    if (file == "-") return usage_error(usage_top, "bbx top reads a ring file, not standard input");
    if (once && json) return usage_error(usage_top, "--once and --json: choose one");
    if (!once && !json) {
        std::string err;
        const int rc = bbx::dec::run_top_ui(file, to, err);
        if (rc == 2) return usage_error(usage_top, err);
        if (rc) std::fprintf(stderr, "bbx: %s: %s\n", file.c_str(), err.c_str());
        return rc;
    }
    auto v = bbx::dec::top_view::open(file, to);
    if (v.is_error()) {
        std::fprintf(stderr, "bbx: %s: %s\n", file.c_str(), v.err().message().c_str());
        return 1;
    }
    if (auto r = v.value()->refresh(); r.is_error()) {
        std::fprintf(stderr, "bbx: %s: %s\n", file.c_str(), r.err().message().c_str());
        return 1;
    }
    const std::string out = json ? v.value()->json() : v.value()->text();
    if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size() || std::fflush(stdout) != 0) {
        std::fprintf(stderr, "bbx: cannot write to standard output: %s\n", std::strerror(errno));
        return 1;
    }
    return 0;
}

int cmd_analyze(int argc, char** argv) {
    bbx::dec::analyze_options ao;
    bbx::dec::filter_spec filter;
    std::string file, out, ferr;
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        if (is_help(a)) return std::fputs(usage_analyze, stdout), 0;
        if (a == "--json") {
            ao.json = true;
        } else if (a == "--all") {
            ao.all = true;
        } else if (a == "--long-poll" || a.rfind("--long-poll=", 0) == 0) {
            std::string v;
            if (a == "--long-poll") {
                if (++i == argc) return usage_error(usage_analyze, "option --long-poll needs a number of milliseconds");
                v = argv[i];
            } else {
                v = a.substr(12);
            }
            char* end = nullptr;
            errno = 0;
            double ms = std::strtod(v.c_str(), &end);
            if (v.empty() || *end != '\0' || errno != 0 || !(ms > 0) || ms > 1e9)
                return usage_error(usage_analyze, "--long-poll needs a positive number of milliseconds, not '" + v + "'");
            ao.long_poll_ns = int64_t(ms * 1e6);
            if (ao.long_poll_ns < 1) ao.long_poll_ns = 1;
        } else if (a == "-o" || a == "--output") {
            if (++i == argc) return usage_error(usage_analyze, "option " + a + " needs a path");
            out = argv[i];
        } else if (a.rfind("--output=", 0) == 0) {
            out = a.substr(9);
        } else if (int fr = parse_filter_option(argc, argv, i, filter, ferr); fr != 0) {
            if (fr < 0) return usage_error(usage_analyze, ferr);
        } else if (a.size() > 1 && a[0] == '-') {
            return usage_error(usage_analyze, "unknown option '" + a + "'");
        } else if (file.empty()) {
            file = a;
        } else {
            return usage_error(usage_analyze, "more than one input file ('" + file + "' and '" + a + "')");
        }
    }
    if (file.empty()) return usage_error(usage_analyze, "no input file");
    capture_ptr c = open_input(file);
    if (!c) return 1;
    filter_ptr f;
    if (int rc = make_filter(filter, *c, file, usage_analyze, f)) return rc;
    output o;
    if (!o.open(out)) return 1;
    std::string err;
    bool ok = bbx::dec::write_analysis({*c, f.get()}, ao, o.f, err);
    bool read_failed = !ok && !err.empty() && err != "write failed";
    if (!o.finish(ok)) {
        const std::string& who = read_failed ? file : out.empty() ? std::string("<stdout>") : out;
        std::fprintf(stderr, "bbx: %s: %s\n", who.c_str(), err.empty() ? "write failed" : err.c_str());
        return 1;
    }
    return 0;
}

int cmd_merge(int argc, char** argv) {
    std::vector<std::string> files;
    std::string out, to;
    bool verbose = false;
    bbx::dec::merge_options mo;
    bbx::dec::filter_spec filter;
    std::string ferr;
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        if (is_help(a)) return std::fputs(usage_merge, stdout), 0;
        if (a == "--verbose" || a == "-v") {
            verbose = true;
        } else if (a == "--no-correct") {
            mo.correct = false;
        } else if (a == "-o" || a == "--output") {
            if (++i == argc) return usage_error(usage_merge, "option " + a + " needs a path");
            out = argv[i];
        } else if (a.rfind("--output=", 0) == 0) {
            out = a.substr(9);
        } else if (a == "--to") {
            if (++i == argc) return usage_error(usage_merge, "option --to needs a format (perfetto, chrome or otlp)");
            to = argv[i];
        } else if (a.rfind("--to=", 0) == 0) {
            to = a.substr(5);
        } else if (int fr = parse_filter_option(argc, argv, i, filter, ferr); fr != 0) {
            if (fr < 0) return usage_error(usage_merge, ferr);
        } else if (a.size() > 1 && a[0] == '-') {
            return usage_error(usage_merge, "unknown option '" + a + "'");
        } else {
            files.push_back(a);
        }
    }
    if (files.size() < 2)
        return usage_error(usage_merge, files.empty() ? "no input files" : "merge needs at least two captures");
    if (to.empty()) return usage_error(usage_merge, "merge needs --to perfetto, --to chrome or --to otlp");
    if (to != "perfetto" && to != "chrome" && to != "otlp")
        return usage_error(usage_merge, "unknown output format '" + to + "' (perfetto, chrome or otlp)");
    if (out.empty()) return usage_error(usage_merge, "merge needs -o OUT (or -o - for standard output)");
    if (out == "-" && to == "perfetto" && isatty(1))
        return usage_error(usage_merge, "refusing to write a binary trace to a terminal");
    std::vector<capture_ptr> held;
    std::vector<const bbx::dec::capture*> caps;
    for (const std::string& f : files) {
        capture_ptr c = open_input(f);
        if (!c) return 1;
        caps.push_back(c.get());
        held.push_back(std::move(c));
    }
    bbx::dec::merge_plan plan;
    std::string err;
    if (!bbx::dec::plan_merge(caps, mo, plan, err)) {
        std::fprintf(stderr, "bbx: %s\n", err.c_str());  // err names the file
        return 1;
    }
    if (verbose) std::fputs(bbx::dec::merge_report(plan).c_str(), stderr);
    // Filters choose what is written; the clocks were aligned from every event.
    std::vector<filter_ptr> filters;
    if (int rc = make_merge_filters(filter, caps, files, filters)) return rc;
    std::vector<bbx::dec::input> ins;
    for (size_t k = 0; k < caps.size(); ++k) ins.emplace_back(*caps[k], filters[k].get());
    output o;
    if (!o.open(out)) return 1;
    const auto fmt = to == "perfetto" ? bbx::dec::merge_format::perfetto
                     : to == "otlp"   ? bbx::dec::merge_format::otlp
                                      : bbx::dec::merge_format::chrome;
    uint64_t spans = 0;
    bool ok = bbx::dec::write_merge(ins, plan, fmt, o.f, err, &spans);
    const bool read_failed = !ok && !err.empty() && err.rfind("write failed", 0) != 0;
    if (!o.finish(ok)) {
        if (read_failed) std::fprintf(stderr, "bbx: %s\n", err.c_str());  // err names the file
        else std::fprintf(stderr, "bbx: %s: %s\n", out == "-" ? "<stdout>" : out.c_str(), err.empty() ? "write failed" : err.c_str());
        return 1;
    }
    if (fmt == bbx::dec::merge_format::otlp && spans == 0) nothing_to_export("the captures", !filter.empty());
    return 0;
}

int cmd_snapshot(int argc, char** argv) {
    std::string file, out;
    bbx::dec::snapshot_options so;
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        if (is_help(a)) return std::fputs(usage_snapshot, stdout), 0;
        if (a == "-o" || a == "--output") {
            if (++i == argc) return usage_error(usage_snapshot, "option " + a + " needs a path");
            out = argv[i];
        } else if (a.rfind("--output=", 0) == 0) {
            out = a.substr(9);
        } else if (a == "--level" || a.rfind("--level=", 0) == 0) {
            std::string v;
            if (a == "--level") {
                if (++i == argc) return usage_error(usage_snapshot, "option --level needs a number from 1 to 12");
                v = argv[i];
            } else {
                v = a.substr(8);
            }
            char* end = nullptr;
            errno = 0;
            long n = std::strtol(v.c_str(), &end, 10);
            if (v.empty() || *end != '\0' || errno != 0 || n < 1 || n > 12)
                return usage_error(usage_snapshot, "--level needs a number from 1 to 12, not '" + v + "'");
            so.level = int(n);
        } else if (a.size() > 1 && a[0] == '-') {
            return usage_error(usage_snapshot, "unknown option '" + a + "'");
        } else if (file.empty()) {
            file = a;
        } else {
            return usage_error(usage_snapshot, "more than one input file ('" + file + "' and '" + a + "')");
        }
    }
    if (file.empty()) return usage_error(usage_snapshot, "no input file");
    if (out.empty()) return usage_error(usage_snapshot, "snapshot needs -o OUT (or -o - for standard output)");
    if (out == "-" && isatty(1)) return usage_error(usage_snapshot, "refusing to write a binary capture to a terminal");
    capture_ptr c = open_input(file);
    if (!c) return 1;
    bbx::dec::result<bbx::dec::snapshot_stats> r = bbx::dec::snapshot_stats{};
    if (out == "-") {
        r = c->write_container([](const void* p, size_t n) { return std::fwrite(p, 1, n, stdout) == n; }, so);
        if (!r.is_error() && std::fflush(stdout) != 0) r = bbx::dec::error{bbx::dec::errc::io, 0, "write failed"};
    } else {
        r = bbx::dec::write_snapshot(*c, out, so);
    }
    if (r.is_error()) {
        // Output trouble names the output; a ring file that changed shape while copied names the input.
        bool input = r.err().code != bbx::dec::errc::io;
        std::fprintf(stderr, "bbx: %s: %s\n", input ? file.c_str() : out == "-" ? "<stdout>" : out.c_str(),
                     r.err().what.c_str());
        return 1;
    }
    if (isatty(2)) {
        const auto& st = r.value();
        std::fprintf(stderr, "bbx: %s: %llu bytes of ring file in %llu bytes (%.2f%%), %u chunks\n",
                     out == "-" ? "<stdout>" : out.c_str(), (unsigned long long)st.image_bytes,
                     (unsigned long long)st.container_bytes, 100.0 * double(st.container_bytes) / double(st.image_bytes),
                     st.chunks);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fputs(usage_main, stderr);
        return 2;
    }
    std::string verb = argv[1];
    if (is_help(verb) || verb == "help") return std::fputs(usage_main, stdout), 0;
    if (verb == "info") return cmd_info(argc, argv);
    if (verb == "dump") return cmd_dump(argc, argv);
    if (verb == "convert") return cmd_convert(argc, argv);
    if (verb == "analyze") return cmd_analyze(argc, argv);
    if (verb == "merge") return cmd_merge(argc, argv);
    if (verb == "snapshot") return cmd_snapshot(argc, argv);
    if (verb == "top") return cmd_top(argc, argv);
    std::fprintf(stderr, "bbx: unknown verb '%s'\n%s", verb.c_str(), usage_main);
    return 2;
}
