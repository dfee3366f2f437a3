// SPDX-License-Identifier: Apache-2.0
// NumPy .npy files: read (v1/v2/v3) and write (v1, atomically). Every size in a file is checked
// against the real file size before anything is allocated, so a corrupt or hostile header cannot
// make us allocate or read past the file.
#include "tconv/npy.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <new>
#include <random>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "npy_format.hpp"
#include "partial_files.hpp"
#include "tconv/problem.hpp"

namespace tconv {

using npy::fail;
using npy::kMagic;
using npy::kPrefixV2;
using npy::quote_bytes;

namespace {

// NumPy itself refuses headers over 10000 bytes by default; allow generous room for odd writers
// while keeping a hostile length from allocating gigabytes.
constexpr uint64_t kMaxHeaderBytes = uint64_t(1) << 20;

// ---- Plain POSIX I/O: file sizes from fstat, reads and writes that survive EINTR --------------

class Fd {
  public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }
    int release() { return std::exchange(fd_, -1); }

  private:
    int fd_;
};

// Reads exactly n bytes, or fewer only at end of file; returns the count read or -1 (errno set).
ssize_t read_full(int fd, void* buf, size_t n) {
    size_t done = 0;
    while (done < n) {
        ssize_t r = ::read(fd, static_cast<char*>(buf) + done, n - done);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) break;
        done += size_t(r);
    }
    return ssize_t(done);
}

bool write_full(int fd, const void* buf, size_t n) {
    size_t done = 0;
    while (done < n) {
        ssize_t r = ::write(fd, static_cast<const char*>(buf) + done, n - done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        done += size_t(r);
    }
    return true;
}

void read_exactly(int fd, void* buf, size_t n, const std::string& path) {
    ssize_t r = read_full(fd, buf, n);
    if (r < 0) fail(ErrorKind::io, path, fmt::format("cannot read: {}", std::strerror(errno)));
    if (size_t(r) != n)
        fail(ErrorKind::io, path, "unexpected end of file (was the file changed while reading?)");
}

// .npy data is little-endian; a no-op on x86-64.
void to_native(std::vector<float>& v) {
    if constexpr (std::endian::native == std::endian::big)
        for (float& f : v) f = std::bit_cast<float>(__builtin_bswap32(std::bit_cast<uint32_t>(f)));
}

// The tensor's storage; failing to get it is a clear out_of_memory error naming the file.
Tensor allocate(const npy::Header& h, const std::string& path) {
    Tensor t;
    t.shape = h.shape;
    try {
        t.data.resize(size_t(h.elements));
    } catch (const std::bad_alloc&) {
        fail(ErrorKind::out_of_memory, path,
             fmt::format("out of memory: cannot allocate {} bytes for the tensor {}",
                         h.elements * sizeof(float), shape_string(h.shape)));
    }
    return t;
}

uint32_t little_endian(const unsigned char* p, int bytes) {
    uint32_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

}  // namespace

namespace npy {

Prefix parse_prefix(std::string_view head, uint64_t file_size, const std::string& path) {
    if (file_size == 0)
        fail(ErrorKind::invalid_argument, path,
             "the file is empty, expected a .npy file starting with \"\\x93NUMPY\"");
    if (head.substr(0, kMagic.size()) != kMagic) {
        std::string hint;
        if (head.starts_with("PK\x03\x04"))
            hint = " (this looks like a zip archive, e.g. an .npz: extract the array first)";
        fail(ErrorKind::invalid_argument, path,
             fmt::format("not a .npy file: expected the magic \"\\x93NUMPY\" at the start, found "
                         "{}{}",
                         quote_bytes(head.substr(0, kMagic.size())), hint));
    }
    if (head.size() < kPrefixV1)
        fail(ErrorKind::invalid_argument, path,
             fmt::format("truncated .npy header: the file is {} bytes, too short for the "
                         "{}-byte prefix",
                         file_size, kPrefixV1));
    const auto* bytes = reinterpret_cast<const unsigned char*>(head.data());
    const int major = bytes[6], minor = bytes[7];
    if (!((major == 1 || major == 2 || major == 3) && minor == 0))
        fail(ErrorKind::invalid_argument, path,
             fmt::format("unsupported .npy format version {}.{} (expected 1.0, 2.0 or 3.0)",
                         major, minor));
    Prefix p;
    p.size = major == 1 ? kPrefixV1 : kPrefixV2;
    if (head.size() < p.size)
        fail(ErrorKind::invalid_argument, path,
             fmt::format("truncated .npy header: the file is {} bytes, too short for the "
                         "{}-byte prefix of a version {}.0 file",
                         file_size, p.size, major));
    p.header_len = little_endian(bytes + 8, major == 1 ? 2 : 4);
    if (p.header_len > file_size - p.size)
        fail(ErrorKind::invalid_argument, path,
             fmt::format("truncated .npy header: the prefix says the header is {} bytes, but "
                         "only {} bytes follow it",
                         p.header_len, file_size - p.size));
    if (p.header_len > kMaxHeaderBytes)
        fail(ErrorKind::invalid_argument, path,
             fmt::format("the .npy header is {} bytes, expected at most {}", p.header_len,
                         kMaxHeaderBytes));
    return p;
}

uint64_t check_data_size(const Header& h, uint64_t have, uint64_t max_bytes,
                         const std::string& path) {
    const uint64_t need = h.elements * sizeof(float);  // parse_header checked it fits
    if (have < need)
        fail(ErrorKind::invalid_argument, path,
             fmt::format("the data is truncated: the header's shape {} needs {} bytes of float32 "
                         "data, found only {}",
                         shape_string(h.shape), need, have));
    if (have > need)
        fail(ErrorKind::invalid_argument, path,
             fmt::format("{} unexpected bytes after the data: the header's shape {} needs {} "
                         "bytes of float32 data, found {}",
                         have - need, shape_string(h.shape), need, have));
    if (need > max_bytes)
        fail(ErrorKind::out_of_memory, path,
             fmt::format("the tensor {} is {} bytes, more than the limit of {} bytes",
                         shape_string(h.shape), need, max_bytes));
    return need;
}

Tensor parse_npy_bytes(std::string_view file, const std::string& name, uint64_t max_bytes) {
    const Prefix prefix = parse_prefix(file.substr(0, kPrefixV2), file.size(), name);
    const Header h = parse_header(file.substr(prefix.size, prefix.header_len), name);
    const std::string_view data = file.substr(prefix.size + prefix.header_len);
    const uint64_t need = check_data_size(h, data.size(), max_bytes, name);
    Tensor t = allocate(h, name);
    if (need > 0) std::memcpy(t.data.data(), data.data(), size_t(need));
    to_native(t.data);
    return t;
}

}  // namespace npy

Tensor read_npy(const std::string& path, uint64_t max_bytes) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0)
        fail(ErrorKind::io, path, fmt::format("cannot open: {}", std::strerror(errno)));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0)
        fail(ErrorKind::io, path, fmt::format("cannot read: {}", std::strerror(errno)));
    if (S_ISDIR(st.st_mode))
        fail(ErrorKind::io, path, "cannot read: it is a directory, expected a .npy file");
    if (!S_ISREG(st.st_mode))
        fail(ErrorKind::io, path, "cannot read: not a regular file, expected a .npy file");
    const uint64_t file_size = uint64_t(st.st_size);

    // Only the prefix and the header are read before their sizes are checked against the file.
    unsigned char head[kPrefixV2] = {};
    const ssize_t r = file_size == 0 ? 0 : read_full(fd.get(), head, sizeof head);
    if (r < 0) fail(ErrorKind::io, path, fmt::format("cannot read: {}", std::strerror(errno)));
    const npy::Prefix prefix = npy::parse_prefix(
        std::string_view(reinterpret_cast<const char*>(head), size_t(r)), file_size, path);

    // The prefix read may have taken a couple of v1 header bytes already; reread from its end.
    if (::lseek(fd.get(), off_t(prefix.size), SEEK_SET) < 0)
        fail(ErrorKind::io, path, fmt::format("cannot read: {}", std::strerror(errno)));
    std::string header(prefix.header_len, '\0');
    read_exactly(fd.get(), header.data(), header.size(), path);
    const npy::Header h = npy::parse_header(header, path);

    const uint64_t need = npy::check_data_size(
        h, file_size - prefix.size - prefix.header_len, max_bytes, path);
    Tensor t = allocate(h, path);
    read_exactly(fd.get(), t.data.data(), size_t(need), path);
    to_native(t.data);
    return t;
}

void expect_shape(const Tensor& t, const std::vector<int64_t>& expected, const std::string& path,
                  const std::string& what) {
    if (t.shape == expected) return;
    std::string hint;
    const auto& s = t.shape;
    const size_t n = s.size();
    if (n == expected.size() && n >= 2) {
        auto swapped = expected;
        std::swap(swapped[0], swapped[1]);
        // Moving axis 1 to the end (or back) converts between channels_first and channels_last.
        auto to_last = expected, to_first = expected;
        std::rotate(to_last.begin() + 1, to_last.begin() + 2, to_last.end());
        std::rotate(to_first.begin() + 1, to_first.end() - 1, to_first.end());
        if (what.find("weight") != std::string::npos && s == swapped)
            hint = " (weights use PyTorch's ConvTranspose layout [in_channels, "
                   "out_channels/groups, *kernel])";
        else if (n >= 3 && what.find("weight") == std::string::npos && s == to_last)
            hint = " (the tensor looks channels_last [N, *spatial, C] but the layer is "
                   "channels_first; set \"layout\": \"channels_last\" in the config or permute "
                   "the tensor)";
        else if (n >= 3 && what.find("weight") == std::string::npos && s == to_first)
            hint = " (the tensor looks channels_first [N, C, *spatial] but the layer is "
                   "channels_last; set \"layout\": \"channels_first\" in the config or permute "
                   "the tensor)";
    }
    throw Error(ErrorKind::invalid_argument,
                fmt::format("{}: {} shape {} does not match the layer: expected {}{}", path, what,
                            shape_string(t.shape), shape_string(expected), hint));
}

namespace {

// Whether the file's own mode lets this process write it. Root's privilege is not counted: a
// read-only file stays read-only for tconv whoever runs it.
bool mode_allows_writing(const struct stat& st) {
    const uid_t uid = ::geteuid();
    if (uid == st.st_uid || uid == 0) return (st.st_mode & (uid == 0 ? 0222 : S_IWUSR)) != 0;
    if (::getegid() == st.st_gid) return (st.st_mode & S_IWGRP) != 0;
    return (st.st_mode & S_IWOTH) != 0;
}

std::string temp_name_for(const std::filesystem::path& target) {
    std::random_device rd;
    return fmt::format(".{}.tmp.{}.{:08x}", target.filename().string(), ::getpid(), rd());
}

}  // namespace

void write_npy(const std::string& path, const std::vector<int64_t>& shape, const float* data) {
    namespace fs = std::filesystem;
    uint64_t elements = 1;
    for (int64_t d : shape) {
        if (d < 0)
            fail(ErrorKind::invalid_argument, path,
                 fmt::format("cannot write a tensor of shape {}: negative size",
                             shape_string(shape)));
        if (__builtin_mul_overflow(elements, uint64_t(d), &elements) ||
            elements > uint64_t(INT64_MAX) / sizeof(float))
            fail(ErrorKind::invalid_argument, path,
                 fmt::format("cannot write a tensor of shape {}: too many elements",
                             shape_string(shape)));
    }
    if (elements > 0 && data == nullptr)
        fail(ErrorKind::invalid_argument, path, "cannot write: no data given");

    fs::path target(path);
    if (target.filename().empty())
        fail(ErrorKind::io, path, "cannot write: the path names a directory, expected a file name");
    std::error_code ec;
    if (fs::is_symlink(fs::symlink_status(target, ec))) {  // write through the link
        const fs::path to = fs::read_symlink(target, ec);
        if (!ec) target = to.is_absolute() ? to : target.parent_path() / to;
    }
    struct stat existing {};
    const bool replaces = ::stat(target.c_str(), &existing) == 0;
    if (replaces && S_ISDIR(existing.st_mode))
        fail(ErrorKind::io, path, "cannot write: it is a directory, expected a file name");
    if (replaces && !S_ISREG(existing.st_mode))
        fail(ErrorKind::io, path, "cannot write: it exists and is not a regular file");
    if (replaces && !mode_allows_writing(existing))
        fail(ErrorKind::io, path,
             fmt::format("cannot write: the file is read-only (mode {:04o}); change its mode or "
                         "choose another output", existing.st_mode & 07777));
    const fs::path dir = target.parent_path();
    const fs::path tmp = dir / temp_name_for(target);

    // Registered before it exists: a signal handler may remove it at any moment from here on.
    struct Registration {
        int slot;
        ~Registration() { detail::unregister_partial_file(slot); }
    } registration{detail::register_partial_file(tmp.c_str())};
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666));
    if (fd.get() < 0) {
        int err = errno;
        if (err == ENOENT || err == ENOTDIR)
            fail(ErrorKind::io, path,
                 fmt::format("cannot write: the directory '{}' does not exist",
                             dir.empty() ? "." : dir.string()));
        fail(ErrorKind::io, path,
             fmt::format("cannot write: cannot create a file in '{}': {}",
                         dir.empty() ? "." : dir.string(), std::strerror(err)));
    }
    // From here on every failure removes the temporary file before throwing.
    auto abandon = [&](const std::string& why) {
        ::close(fd.release());
        ::unlink(tmp.c_str());
        fail(ErrorKind::io, path, "cannot write: " + why);
    };

    if (replaces && ::fchmod(fd.get(), existing.st_mode & 07777) != 0)
        abandon(std::strerror(errno));  // the replacement keeps the file's mode
    const std::string header = npy::header_block(shape);
    if (!write_full(fd.get(), header.data(), header.size()))
        abandon(std::strerror(errno ? errno : EIO));
    if constexpr (std::endian::native == std::endian::little) {
        if (!write_full(fd.get(), data, size_t(elements) * sizeof(float)))
            abandon(std::strerror(errno ? errno : EIO));
    } else {
        for (uint64_t i = 0; i < elements; ++i) {
            uint32_t v = __builtin_bswap32(std::bit_cast<uint32_t>(data[i]));
            if (!write_full(fd.get(), &v, sizeof v)) abandon(std::strerror(errno ? errno : EIO));
        }
    }
    // fsync so that after the rename the file holds the data even across a crash.
    if (::fsync(fd.get()) != 0 && errno != EINVAL) abandon(std::strerror(errno));
    if (::close(fd.release()) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        fail(ErrorKind::io, path, fmt::format("cannot write: {}", std::strerror(err)));
    }
    if (::rename(tmp.c_str(), target.c_str()) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        if (err == EISDIR)
            fail(ErrorKind::io, path, "cannot write: it is a directory, expected a file name");
        fail(ErrorKind::io, path, fmt::format("cannot write: {}", std::strerror(err)));
    }
}

}  // namespace tconv
