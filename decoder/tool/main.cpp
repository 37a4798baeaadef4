// bbx: the blackbox command-line tool, a thin main over the decoder library.
// Exit codes: 0 success, 1 bad input (or a failed write), 2 bad usage.
#include <mimalloc-new-delete.h>  // mimalloc serves every allocation of the tool
#include <unistd.h>

#include <cerrno>
#include <cstdio>
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
    "  convert   write a trace for another viewer (Perfetto, Chrome JSON)\n"
    "\n"
    "Run 'bbx <verb> --help' for a verb's options. Exit status: 0 success,\n"
    "1 bad input or failed output, 2 bad usage.\n";

const char* const usage_info =
    "usage: bbx info FILE\n"
    "\n"
    "Prints the capture's header (process, start time, clock, mode, how it\n"
    "ended), its threads with events readable, overwritten, dropped and torn,\n"
    "and its call sites.\n";

const char* const usage_dump =
    "usage: bbx dump [-o OUT] FILE\n"
    "\n"
    "Prints every readable event, oldest first, one per line:\n"
    "  seconds-since-start  T<ring>  kind  category  name  arg=value...\n"
    "Strings are quoted; bytes that are not valid UTF-8 show as \\xNN.\n"
    "\n"
    "  -o OUT   write to OUT instead of standard output\n";

const char* const usage_convert =
    "usage: bbx convert FILE --to perfetto|chrome [-o OUT]\n"
    "\n"
    "  --to perfetto   Perfetto protobuf trace; open it at https://ui.perfetto.dev\n"
    "  --to chrome     Chrome trace-event JSON; open it in chrome://tracing,\n"
    "                  ui.perfetto.dev or speedscope (large captures: prefer perfetto)\n"
    "  -o OUT          output path, - for standard output; default: FILE with\n"
    "                  .pftrace or .json appended. The output is written to a\n"
    "                  temporary file and renamed into place when complete.\n";

int usage_error(const char* verb_usage, const std::string& what) {
    std::fprintf(stderr, "bbx: %s\n%s", what.c_str(), verb_usage);
    return 2;
}

bool is_help(const std::string& a) { return a == "-h" || a == "--help"; }

struct options {
    std::string file, out, to;
    bool help = false;
};

// Parses [-o OUT] [--to FMT] FILE in any order. Returns an error text or "".
std::string parse(int argc, char** argv, options& o, bool allow_to, bool allow_out) {
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        if (is_help(a)) {
            o.help = true;
        } else if (allow_out && (a == "-o" || a == "--output")) {
            if (++i == argc) return "option " + a + " needs a path";
            o.out = argv[i];
        } else if (allow_out && a.rfind("--output=", 0) == 0) {
            o.out = a.substr(9);
        } else if (allow_to && a == "--to") {
            if (++i == argc) return "option --to needs a format (perfetto or chrome)";
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
        f = std::fopen(tmp.c_str(), "wbx");
        if (!f) {
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

int cmd_info(int argc, char** argv) {
    options o;
    if (auto e = parse(argc, argv, o, false, false); !e.empty()) return usage_error(usage_info, e);
    if (o.help) return std::fputs(usage_info, stdout), 0;
    capture_ptr c = open_input(o.file);
    if (!c) return 1;
    std::string err;
    if (!bbx::dec::write_info(*c, stdout, err)) {
        std::fprintf(stderr, "bbx: %s: %s\n", o.file.c_str(), err.c_str());
        return 1;
    }
    return 0;
}

int cmd_dump(int argc, char** argv) {
    options o;
    if (auto e = parse(argc, argv, o, false, true); !e.empty()) return usage_error(usage_dump, e);
    if (o.help) return std::fputs(usage_dump, stdout), 0;
    capture_ptr c = open_input(o.file);
    if (!c) return 1;
    output out;
    if (!out.open(o.out)) return 1;
    std::string err;
    bool ok = bbx::dec::write_dump(*c, out.f, err);
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
    if (o.to.empty()) return usage_error(usage_convert, "convert needs --to perfetto or --to chrome");
    if (o.to != "perfetto" && o.to != "chrome")
        return usage_error(usage_convert, "unknown output format '" + o.to + "' (perfetto or chrome)");
    if (o.out.empty()) {
        if (o.file == "-") return usage_error(usage_convert, "reading standard input needs -o OUT (or -o - for stdout)");
        o.out = o.file + (o.to == "perfetto" ? ".pftrace" : ".json");
    }
    if (o.out == "-" && o.to == "perfetto" && isatty(1))
        return usage_error(usage_convert, "refusing to write a binary trace to a terminal");
    capture_ptr c = open_input(o.file);
    if (!c) return 1;
    output out;
    if (!out.open(o.out)) return 1;
    std::string err;
    bool ok = o.to == "perfetto" ? bbx::dec::write_perfetto(*c, out.f, err) : bbx::dec::write_chrome(*c, out.f, err);
    if (!out.finish(ok)) {
        std::fprintf(stderr, "bbx: %s: %s\n", o.out.c_str(), err.empty() ? "write failed" : err.c_str());
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
    std::fprintf(stderr, "bbx: unknown verb '%s'\n%s", verb.c_str(), usage_main);
    return 2;
}
