// Crash frames to function names and source lines: the ELF headers are read
// here (type and loaded segments); the DWARF is left to addr2line, run as a
// child process with every address of one record at once.
#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdlib>
#include <cstring>
#include <map>

#include "bbx/decoder.hpp"

extern char** environ;

namespace bbx::dec {
namespace {

// The path is escaped: it may come from a capture (its exe_path), and errors reach a terminal.
error fail(errc code, const std::string& exe, const std::string& what) { return error{code, 0, printable(exe) + ": " + what}; }

bool read_at(int fd, void* to, size_t n, uint64_t off) {
    auto* p = static_cast<unsigned char*>(to);
    while (n) {
        ssize_t r = pread(fd, p, n, off_t(off));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        p += r;
        n -= size_t(r);
        off += uint64_t(r);
    }
    return true;
}

std::string hex(uint64_t v) {
    char b[24];
    std::snprintf(b, sizeof b, "0x%" PRIx64, v);
    return b;
}

// "file:line" or "file:line (discriminator N)"; "??:0" and "??:?" when unknown.
source_location parse_location(const std::string& function, const std::string& at) {
    source_location l;
    if (function != "??") l.function = function;
    std::string s = at;
    if (size_t d = s.find(" (discriminator "); d != std::string::npos) s.resize(d);
    size_t colon = s.rfind(':');
    std::string file = colon == std::string::npos ? s : s.substr(0, colon);
    if (file != "??") l.file = file;
    if (colon != std::string::npos) l.line = uint32_t(std::strtoul(s.c_str() + colon + 1, nullptr, 10));
    return l;
}

// Runs addr2line on the addresses and returns its standard output.
result<std::string> run_addr2line(const std::string& exe, const std::vector<uint64_t>& addrs) {
    const char* tool = std::getenv("BBX_ADDR2LINE");
    std::string prog = tool && *tool ? tool : "addr2line";
    std::vector<std::string> args = {prog, "-e", exe, "-a", "-f", "-C", "-i"};
    for (uint64_t a : addrs) args.push_back(hex(a));
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) return fail(errc::io, exe, std::string("pipe: ") + std::strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int e = posix_spawnp(&pid, prog.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    if (e != 0) {
        close(out[0]);
        return fail(errc::io, exe, "cannot run " + prog + " (binutils): " + std::strerror(e));
    }
    std::string text;
    char buf[4096];
    for (;;) {
        ssize_t n = read(out[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        text.append(buf, size_t(n));
    }
    close(out[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return fail(errc::io, exe, prog + " failed (exit status " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)) + ")");
    return text;
}

result<std::vector<std::vector<source_location>>> lookup(const std::string& exe_, const std::vector<uint64_t>& lookups);

}  // namespace

result<symbolizer> symbolizer::open(const std::string& exe) {
    // O_NONBLOCK, then a regular-file check: a hostile capture's exe_path may
    // name a FIFO or a device, which must not hang or be read.
    int fd = ::open(exe.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return fail(errc::io, exe, std::string("cannot open: ") + std::strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fail(errc::io, exe, "not a regular file");
    }
    Elf64_Ehdr eh;
    bool ok = read_at(fd, &eh, sizeof eh, 0);
    if (!ok || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
        close(fd);
        return fail(errc::bad_magic, exe, "not an ELF file");
    }
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB) {
        close(fd);
        return fail(errc::unsupported_version, exe, "not a 64-bit little-endian ELF file");
    }
    if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) {
        close(fd);
        return fail(errc::corrupt, exe, "not an executable (ELF type " + std::to_string(eh.e_type) + ")");
    }
    symbolizer s;
    s.exe_ = exe;
    s.pie_ = eh.e_type == ET_DYN;
    for (unsigned i = 0; i < eh.e_phnum; ++i) {
        Elf64_Phdr ph;
        if (eh.e_phentsize < sizeof ph || !read_at(fd, &ph, sizeof ph, eh.e_phoff + uint64_t(i) * eh.e_phentsize)) {
            close(fd);
            return fail(errc::truncated, exe, "program header " + std::to_string(i) + " cannot be read");
        }
        if (ph.p_type == PT_LOAD) s.segments_.emplace_back(ph.p_vaddr, ph.p_vaddr + ph.p_memsz);
    }
    close(fd);
    if (s.segments_.empty()) return fail(errc::corrupt, exe, "no loadable segments");
    return s;
}

result<std::vector<frame_symbol>> symbolizer::crash_frames(const crash_info& crash) const {
    std::vector<frame_symbol> frames;
    std::vector<uint64_t> lookups;   // addresses as the file knows them
    std::vector<size_t> lookup_of;   // frame index of each
    for (uint32_t i = 0; i <= crash.nframes && i <= format::max_crash_frames; ++i) {
        frame_symbol f;
        f.address = i == 0 ? crash.pc : crash.frames[i - 1];
        uint64_t at = pie_ ? f.address - crash.exe_base : f.address;
        if (i > 0 && at > 0) at -= 1;  // inside the call instruction
        for (auto& [lo, hi] : segments_) f.in_executable |= at >= lo && at < hi;
        if (f.in_executable) {
            lookups.push_back(at);
            lookup_of.push_back(frames.size());
        }
        frames.push_back(std::move(f));
    }
    if (lookups.empty()) return frames;
    auto groups = lookup(exe_, lookups);
    if (groups.is_error()) return groups.err();
    for (size_t g = 0; g < lookups.size(); ++g) frames[lookup_of[g]].where = std::move(groups.value()[g]);
    return frames;
}

namespace {
// The source locations of each address, by one addr2line run.
result<std::vector<std::vector<source_location>>> lookup(const std::string& exe_, const std::vector<uint64_t>& lookups) {
    auto text = run_addr2line(exe_, lookups);
    if (text.is_error()) return text.err();
    std::vector<std::vector<source_location>> out(lookups.size());
    // Groups: the address line ("0x..." from -a), then function/location line
    // pairs, innermost first (-i).
    std::vector<std::string> lines;
    for (size_t p = 0; p < text.value().size();) {
        size_t nl = text.value().find('\n', p);
        if (nl == std::string::npos) nl = text.value().size();
        lines.push_back(text.value().substr(p, nl - p));
        p = nl + 1;
    }
    size_t group = 0;
    for (size_t i = 0; i < lines.size();) {
        if (lines[i].rfind("0x", 0) != 0 || group >= lookups.size())
            return fail(errc::corrupt, exe_, "unexpected addr2line output: " + lines[i].substr(0, 80));
        std::vector<source_location>& where = out[group++];
        for (++i; i < lines.size() && lines[i].rfind("0x", 0) != 0; i += 2) {
            if (i + 1 >= lines.size()) return fail(errc::corrupt, exe_, "addr2line output ends inside a frame");
            source_location l = parse_location(lines[i], lines[i + 1]);
            if (!l.function.empty() || !l.file.empty()) where.push_back(std::move(l));
        }
    }
    if (group != lookups.size()) return fail(errc::corrupt, exe_, "addr2line answered for fewer addresses than asked");
    return out;
}
}  // namespace

stall_symbolizer::stall_symbolizer(const capture& c) {
    // Every frame of every sample, by object; each object read by one addr2line run (in batches).
    std::map<const loaded_object*, std::vector<uint64_t>> by_object;
    for (const stall_sample& s : c.stall_samples())
        for (size_t i = 0; i < s.frames.size(); ++i) {
            const uint64_t key = i == 0 ? s.frames[i] : s.frames[i] - 1;
            if (found_.count(key)) continue;
            // A hostile capture may hold millions of distinct addresses: at most
            // max_lookups are looked up (the rest show as addresses).
            constexpr size_t max_lookups = 65536;
            if (found_.size() >= max_lookups) continue;
            frame_symbol& f = found_[key];
            f.address = s.frames[i];
            const loaded_object* o = c.object_of(key);
            if (!o) continue;
            f.object = o->path;
            f.offset = key - o->base;
            by_object[o].push_back(key);
        }
    for (auto& [o, keys] : by_object) {
        if (o->path.empty() || o->path[0] != '/') continue;  // the vDSO: no file to read
        auto elf = symbolizer::open(o->path);
        if (elf.is_error()) {
            if (errors_.size() < 8) errors_.push_back(elf.err().what);
            continue;
        }
        constexpr size_t batch = 512;
        for (size_t from = 0; from < keys.size(); from += batch) {
            std::vector<uint64_t> offsets;
            for (size_t k = from; k < keys.size() && k < from + batch; ++k) offsets.push_back(keys[k] - o->base);
            auto groups = lookup(o->path, offsets);
            if (groups.is_error()) {
                if (errors_.size() < 8) errors_.push_back(groups.err().what);
                break;
            }
            for (size_t k = 0; k < offsets.size(); ++k) {
                frame_symbol& f = found_[keys[from + k]];
                f.where = std::move(groups.value()[k]);
                f.in_executable = true;
            }
        }
    }
}

const frame_symbol* stall_symbolizer::find(uint64_t address, bool return_address) const {
    auto it = found_.find(return_address ? address - 1 : address);
    return it == found_.end() ? nullptr : &it->second;
}

void put_frames(std::string& out, const std::vector<frame_symbol>& frames) {
    char b[64];
    for (size_t i = 0; i < frames.size(); ++i) {
        const frame_symbol& f = frames[i];
        std::snprintf(b, sizeof b, "      #%-2zu 0x%016" PRIx64 " ", i, f.address);
        out += b;
        if (!f.in_executable) {
            out += "(outside the executable)\n";
            continue;
        }
        if (f.where.empty()) {
            out += "?? (no symbol)\n";
            continue;
        }
        for (size_t k = 0; k < f.where.size(); ++k) {
            const source_location& l = f.where[k];
            if (k) out += "                             inlined into ";
            out += l.function.empty() ? "??" : printable(l.function);
            if (!l.file.empty()) {
                out += " at " + printable(l.file);
                if (l.line) out += ":" + std::to_string(l.line);
            }
            out += '\n';
        }
    }
}

}  // namespace bbx::dec
