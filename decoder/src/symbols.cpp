// Crash frames to function names and source lines: the ELF headers are read
// here (type and loaded segments); the DWARF is left to addr2line, run as a
// child process with every address of one record at once.
#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <spawn.h>
#include <sys/auxv.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>

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

// This process's vDSO (the ELF image the kernel maps into every process,
// AT_SYSINFO_EHDR): its bytes and its build id in hex ("" none). Empty
// when there is none or it is not a 64-bit little-endian ELF image.
struct vdso_image {
    const unsigned char* bytes = nullptr;
    size_t size = 0;
    std::string build_id;
};

vdso_image running_vdso() {
    vdso_image v;
    const auto* p = reinterpret_cast<const unsigned char*>(getauxval(AT_SYSINFO_EHDR));
    if (!p) return v;
    Elf64_Ehdr eh;
    std::memcpy(&eh, p, sizeof eh);
    if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_phentsize != sizeof(Elf64_Phdr))
        return v;
    // The image is the whole file: its end is that of the section headers or of a segment's bytes.
    uint64_t size = std::max<uint64_t>(eh.e_shoff + uint64_t(eh.e_shnum) * eh.e_shentsize,
                                       eh.e_phoff + uint64_t(eh.e_phnum) * eh.e_phentsize);
    std::string id;
    for (unsigned i = 0; i < eh.e_phnum; ++i) {
        Elf64_Phdr ph;
        std::memcpy(&ph, p + eh.e_phoff + uint64_t(i) * sizeof ph, sizeof ph);
        size = std::max<uint64_t>(size, ph.p_offset + ph.p_filesz);
        if (ph.p_type != PT_NOTE || !id.empty()) continue;
        for (uint64_t at = ph.p_offset; at + sizeof(Elf64_Nhdr) <= ph.p_offset + ph.p_filesz;) {
            Elf64_Nhdr nh;
            std::memcpy(&nh, p + at, sizeof nh);
            const uint64_t name = at + sizeof nh, desc = name + ((uint64_t(nh.n_namesz) + 3) & ~3ull);
            const uint64_t next = desc + ((uint64_t(nh.n_descsz) + 3) & ~3ull);
            if (next > ph.p_offset + ph.p_filesz) break;
            if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && std::memcmp(p + name, "GNU", 4) == 0) {
                static const char digits[] = "0123456789abcdef";
                // As the recorder keeps it: the first 32 bytes.
                for (uint64_t k = 0; k < nh.n_descsz && k < format::stall_build_id_size; ++k)
                    id += digits[p[desc + k] >> 4], id += digits[p[desc + k] & 15];
                break;
            }
            at = next;
        }
    }
    if (size > (1u << 20)) return v;  // not a vDSO
    v.bytes = p;
    v.size = size_t(size);
    v.build_id = std::move(id);
    return v;
}

// A copy of this process's vDSO in a temporary file, for addr2line; removed
// when it goes. path() is "" when it could not be written.
class vdso_file {
public:
    explicit vdso_file(const vdso_image& v) {
        const char* dir = std::getenv("TMPDIR");
        std::string t = std::string(dir && *dir ? dir : "/tmp") + "/bbx-vdso-XXXXXX";
        int fd = mkstemp(t.data());
        if (fd < 0) return;
        bool ok = true;
        for (size_t at = 0; ok && at < v.size;) {
            ssize_t n = ::write(fd, v.bytes + at, v.size - at);
            if (n < 0 && errno == EINTR) continue;
            ok = n > 0;
            at += ok ? size_t(n) : 0;
        }
        if (close(fd) != 0 || !ok) {
            unlink(t.c_str());
            return;
        }
        path_ = t;
    }
    ~vdso_file() {
        if (!path_.empty()) unlink(path_.c_str());
    }
    vdso_file(const vdso_file&) = delete;
    vdso_file& operator=(const vdso_file&) = delete;
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

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
    std::unique_ptr<vdso_file> vdso;
    for (auto& [o, keys] : by_object) {
        std::string file = o->path;
        if (o->path == "[vdso]") {
            // The vDSO has no file. This machine's is read in its place only
            // when it is the very build the recording process had (the same
            // build id): the recording machine's kernel may be another.
            const vdso_image v = running_vdso();
            if (o->build_id.empty() || v.build_id != o->build_id) continue;
            if (!vdso) vdso = std::make_unique<vdso_file>(v);
            if (vdso->path().empty()) continue;
            file = vdso->path();
        } else if (o->path.empty() || o->path[0] != '/') {
            continue;  // a relative path: relative to what the recording process had as its directory
        }
        auto elf = symbolizer::open(file);
        if (elf.is_error()) {
            if (errors_.size() < 8) errors_.push_back(elf.err().what);
            continue;
        }
        constexpr size_t batch = 512;
        for (size_t from = 0; from < keys.size(); from += batch) {
            std::vector<uint64_t> offsets;
            for (size_t k = from; k < keys.size() && k < from + batch; ++k) offsets.push_back(keys[k] - o->base);
            auto groups = lookup(file, offsets);
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
