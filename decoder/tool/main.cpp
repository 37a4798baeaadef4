// bbx: the blackbox command-line tool, a thin main over the decoder library.
// Exit codes: 0 success, 1 bad input (or a failed write), 2 bad usage.
#include <mimalloc-new-delete.h>  // mimalloc serves every allocation of the tool
#include <fcntl.h>
#include <unistd.h>

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
    "\n"
    "Run 'bbx <verb> --help' for a verb's options. Exit status: 0 success,\n"
    "1 bad input or failed output, 2 bad usage.\n";

const char* const usage_info =
    "usage: bbx info [--symbols [PROGRAM]] FILE\n"
    "\n"
    "Prints the capture's header (process, start time, clock, mode, how it\n"
    "ended), its threads with events readable, overwritten, dropped and torn,\n"
    "its crash records, and its call sites.\n"
    "\n"
    "  --symbols [PROGRAM]  show each crash record's stack as functions and\n"
    "                       source lines (runs addr2line), read from PROGRAM or\n"
    "                       else from the executable the capture names\n";

const char* const usage_dump =
    "usage: bbx dump [-o OUT] [--symbols [PROGRAM]] FILE\n"
    "\n"
    "Prints every readable event, oldest first, one per line:\n"
    "  seconds-since-start  T<ring>  kind  category  name  arg=value...\n"
    "Strings are quoted; bytes that are not valid UTF-8 show as \\xNN.\n"
    "\n"
    "  -o OUT               write to OUT instead of standard output\n"
    "  --symbols [PROGRAM]  show each crash record's stack as functions and\n"
    "                       source lines (runs addr2line), read from PROGRAM or\n"
    "                       else from the executable the capture names\n";

const char* const usage_convert =
    "usage: bbx convert FILE --to perfetto|chrome|otlp [-o OUT]\n"
    "\n"
    "  --to perfetto   Perfetto protobuf trace; open it at https://ui.perfetto.dev\n"
    "  --to chrome     Chrome trace-event JSON; open it in chrome://tracing,\n"
    "                  ui.perfetto.dev or speedscope (large captures: prefer perfetto)\n"
    "  --to otlp       OpenTelemetry spans as OTLP/JSON Lines (one TracesData per\n"
    "                  line), read by the OpenTelemetry Collector (otlpjsonfile)\n"
    "  -o OUT          output path, - for standard output; default: FILE with\n"
    "                  .pftrace, .json or .jsonl appended. The output is written to a\n"
    "                  temporary file and renamed into place when complete.\n";

const char* const usage_analyze =
    "usage: bbx analyze [--json] [--all] [--long-poll MS] [-o OUT] FILE\n"
    "\n"
    "What the async tasks in the capture did (task events, format 1.1): per\n"
    "task its polls, busy, scheduled (woken until polled) and idle time, wakes,\n"
    "longest poll and state at the end; per thread the share of time spent in\n"
    "polls. Then warnings, each with its task, time and source line: a poll\n"
    "that blocked its thread while woken tasks waited, a task woken but never\n"
    "polled again, a lost wake, a task that mostly wakes itself, and deadlock\n"
    "cycles of tasks waiting on each other's channels. Warnings are findings:\n"
    "the exit status is 0 with or without them.\n"
    "\n"
    "  --json          one JSON object: capture, tasks (all), threads, warnings;\n"
    "                  times in nanoseconds since the capture's start\n"
    "  --all           list every task (default: the 50 busiest)\n"
    "  --long-poll MS  a poll longer than MS milliseconds is a warning, and so is\n"
    "                  a task woken (or missing its wake) that long at the end\n"
    "                  (default 10)\n"
    "  -o OUT          write to OUT instead of standard output\n";

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
};

// Parses [-o OUT] [--to FMT] [--symbols [PROGRAM]] FILE in any order.
// Returns an error text or "".
std::string parse(int argc, char** argv, options& o, bool allow_to, bool allow_out, bool allow_symbols = false) {
    // The word after a bare --symbols is its PROGRAM if another word is the
    // FILE, else it is the FILE: decided at the end.
    int symbols_at = -2;
    std::string after_symbols;
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

// Opens FILE (or reads standard input); on failure prints the error and returns null.
capture_ptr open_input(const std::string& file) {
    bbx::dec::result<capture_ptr> r = [&]() -> bbx::dec::result<capture_ptr> {
        if (file != "-") return bbx::dec::capture::open(file);
        std::vector<uint8_t> data;
        uint8_t buf[1 << 16];
        size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) data.insert(data.end(), buf, buf + n);
        if (std::ferror(stdin)) return bbx::dec::error{bbx::dec::errc::io, data.size(), "cannot read standard input"};
        return bbx::dec::capture::from_bytes(data.data(), data.size(), "-");
    }();
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

    bool open(const std::string& p) {
        path = p;
        if (p == "-" || p.empty()) {
            f = stdout;
            return true;
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
        static char buf[1 << 20];
        std::setvbuf(f, buf, _IOFBF, sizeof buf);
        return true;
    }
    // Closes and renames; on failure removes the temporary file.
    bool finish(bool ok) {
        if (f == stdout) {
            if (std::fflush(stdout) != 0) ok = false;
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

// --symbols: the executable to read (given, or the one the capture names),
// checked before any output. On failure prints the error and returns false.
bool symbols_for(const options& o, const bbx::dec::capture& c, bbx::dec::crash_options& co) {
    if (!o.symbols) return true;
    co.symbols = o.symbols_exe.empty() ? c.header().exe_path : o.symbols_exe;
    if (co.symbols.empty()) {
        std::fprintf(stderr, "bbx: %s: the capture names no executable: give --symbols PROGRAM\n", o.file.c_str());
        return false;
    }
    auto s = bbx::dec::symbolizer::open(co.symbols);
    if (s.is_error()) {
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
    bbx::dec::crash_options co;
    if (!symbols_for(o, *c, co)) return 1;
    std::string err;
    if (!bbx::dec::write_info(*c, stdout, err, co)) {
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
    bbx::dec::crash_options co;
    if (!symbols_for(o, *c, co)) return 1;
    output out;
    if (!out.open(o.out)) return 1;
    std::string err;
    bool ok = bbx::dec::write_dump(*c, out.f, err, co);
    if (!out.finish(ok)) {
        std::fprintf(stderr, "bbx: %s: %s\n", o.out.empty() ? "<stdout>" : o.out.c_str(), err.empty() ? "write failed" : err.c_str());
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
    output out;
    if (!out.open(o.out)) return 1;
    std::string err;
    bool ok = o.to == "perfetto" ? bbx::dec::write_perfetto(*c, out.f, err)
              : o.to == "otlp"   ? bbx::dec::write_otlp(*c, out.f, err)
                                 : bbx::dec::write_chrome(*c, out.f, err);
    if (!out.finish(ok)) {
        std::fprintf(stderr, "bbx: %s: %s\n", o.out.c_str(), err.empty() ? "write failed" : err.c_str());
        return 1;
    }
    return 0;
}

int cmd_analyze(int argc, char** argv) {
    bbx::dec::analyze_options ao;
    std::string file, out;
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
    output o;
    if (!o.open(out)) return 1;
    std::string err;
    bool ok = bbx::dec::write_analysis(*c, ao, o.f, err);
    bool read_failed = !ok && !err.empty() && err != "write failed";
    if (!o.finish(ok)) {
        const std::string& who = read_failed ? file : out.empty() ? std::string("<stdout>") : out;
        std::fprintf(stderr, "bbx: %s: %s\n", who.c_str(), err.empty() ? "write failed" : err.c_str());
        return 1;
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
    std::fprintf(stderr, "bbx: unknown verb '%s'\n%s", verb.c_str(), usage_main);
    return 2;
}
