#include "storage/local.hpp"

#include "core/cancel.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <random>
#include <sys/stat.h>
#include <unistd.h>

namespace dbkeep::storage {
namespace fs = std::filesystem;
namespace {

constexpr const char* k_temp_marker = ".tmp-";

std::string random_hex(int n)
{
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    static constexpr char k_digits[] = "0123456789abcdef";
    std::string s;
    for (int i = 0; i < n; ++i) {
        s.push_back(k_digits[rng() & 15]);
    }
    return s;
}

ErrorKind kind_for_errno(int err)
{
    switch (err) {
    case ENOENT: return ErrorKind::not_found;
    case EACCES:
    case EPERM: return ErrorKind::auth;
    default: return ErrorKind::failed;
    }
}

Status fsync_dir(const fs::path& dir)
{
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return fail(kind_for_errno(errno), "open folder", dir.string(), errno_message(errno));
    }
    ::fsync(fd); // best effort: some network file systems refuse fsync on folders
    ::close(fd);
    return {};
}

Status make_parent(const fs::path& file)
{
    std::error_code ec;
    fs::create_directories(file.parent_path(), ec);
    if (ec) {
        return fail(ec.value() == EACCES ? ErrorKind::auth : ErrorKind::failed, "create folder",
                    file.parent_path().string(), ec.message());
    }
    return {};
}

Status write_all(int fd, Bytes data, const std::string& what)
{
    std::size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::write(fd, data.data() + off, data.size() - off);
        if (n < 0) {
            if (errno == EINTR) {
                if (cancel::requested()) {
                    return fail_cancelled("write", what);
                }
                continue;
            }
            int e = errno;
            return fail(kind_for_errno(e), "write", what, errno_message(e),
                        e == ENOSPC ? "free space on the backup volume" : "");
        }
        off += static_cast<std::size_t>(n);
    }
    return {};
}

class LocalWriter final : public ObjectWriter {
public:
    LocalWriter(int fd, fs::path temp, fs::path final_path, std::string key)
        : m_fd(fd), m_temp(std::move(temp)), m_final(std::move(final_path)), m_key(std::move(key))
    {
    }
    ~LocalWriter() override { abort(); }

    Status write(Bytes data) override
    {
        if (m_fd < 0) {
            return fail(ErrorKind::failed, "write object", m_key, "writer already closed");
        }
        return write_all(m_fd, data, m_key);
    }

    Status finish() override
    {
        if (m_fd < 0) {
            return fail(ErrorKind::failed, "commit object", m_key, "writer already closed");
        }
        if (::fsync(m_fd) != 0) {
            int e = errno;
            abort();
            return fail(kind_for_errno(e), "sync object", m_key, errno_message(e));
        }
        ::close(m_fd);
        m_fd = -1;
        if (::rename(m_temp.c_str(), m_final.c_str()) != 0) {
            int e = errno;
            ::unlink(m_temp.c_str());
            return fail(kind_for_errno(e), "commit object", m_key, errno_message(e));
        }
        m_committed = true;
        return fsync_dir(m_final.parent_path());
    }

    void abort() noexcept override
    {
        if (m_fd >= 0) {
            ::close(m_fd);
            m_fd = -1;
        }
        if (!m_committed && !m_removed) {
            ::unlink(m_temp.c_str());
            m_removed = true;
        }
    }

private:
    int m_fd;
    fs::path m_temp, m_final;
    std::string m_key;
    bool m_committed = false;
    bool m_removed = false;
};

class FileSource final : public stream::Source {
public:
    FileSource(int fd, std::uint64_t remaining, std::string key)
        : m_fd(fd), m_remaining(remaining), m_key(std::move(key))
    {
    }
    ~FileSource() override { ::close(m_fd); }

    Result<std::size_t> read(MutableBytes out) override
    {
        if (m_remaining == 0) {
            return 0;
        }
        std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), m_remaining));
        for (;;) {
            ssize_t n = ::read(m_fd, out.data(), want);
            if (n < 0) {
                if (errno == EINTR && !cancel::requested()) {
                    continue;
                }
                if (errno == EINTR) {
                    return fail_cancelled("read object", m_key);
                }
                return fail(ErrorKind::failed, "read object", m_key, errno_message(errno));
            }
            m_remaining -= static_cast<std::uint64_t>(n);
            if (n == 0) {
                m_remaining = 0;
            }
            return static_cast<std::size_t>(n);
        }
    }

private:
    int m_fd;
    std::uint64_t m_remaining;
    std::string m_key;
};

class LocalStorage final : public Storage {
public:
    explicit LocalStorage(LocalOptions options) : m_options(std::move(options)) {}

    Result<std::unique_ptr<ObjectWriter>> open_writer(const std::string& key) override
    {
        auto t = create_temp(key);
        if (!t) {
            return std::unexpected(t.error());
        }
        return std::make_unique<LocalWriter>(t->fd, t->temp, t->final_path, key);
    }

    Result<std::unique_ptr<stream::Source>> open_reader(const std::string& key, ByteRange range) override
    {
        auto path = resolve(key);
        if (!path) {
            return std::unexpected(path.error());
        }
        int fd = ::open(path->c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            return fail(kind_for_errno(e), "open object", key, errno_message(e));
        }
        struct stat st {};
        if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            // A folder opens fine with O_RDONLY but is no object (and read() would fail with EISDIR).
            ::close(fd);
            return fail(ErrorKind::not_found, "open object", key, "no such object");
        }
        auto size = static_cast<std::uint64_t>(st.st_size);
        if (range.offset > 0) {
            if (::lseek(fd, static_cast<off_t>(range.offset), SEEK_SET) < 0) {
                int e = errno;
                ::close(fd);
                return fail(ErrorKind::failed, "seek object", key, errno_message(e));
            }
        }
        std::uint64_t remaining = range.offset >= size ? 0 : size - range.offset;
        if (range.length) {
            remaining = std::min(remaining, *range.length);
        }
        return std::make_unique<FileSource>(fd, remaining, key);
    }

    Result<ObjectInfo> stat(const std::string& key) override
    {
        auto path = resolve(key);
        if (!path) {
            return std::unexpected(path.error());
        }
        struct stat st {};
        if (::stat(path->c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
            int e = errno;
            return fail(kind_for_errno(e == 0 ? ENOENT : e), "stat object", key, "no such object");
        }
        return ObjectInfo{key, static_cast<std::uint64_t>(st.st_size), static_cast<std::int64_t>(st.st_mtime)};
    }

    Result<std::vector<ObjectInfo>> list(const std::string& prefix) override
    {
        std::vector<ObjectInfo> out;
        std::error_code ec;
        if (!fs::exists(m_options.root, ec)) {
            return out;
        }
        // Walk only the folder part of the prefix.
        auto slash = prefix.rfind('/');
        fs::path start = slash == std::string::npos ? m_options.root : m_options.root / prefix.substr(0, slash);
        if (!fs::is_directory(start, ec)) {
            return out;
        }
        fs::recursive_directory_iterator it(start, fs::directory_options::none, ec), end;
        if (ec) {
            return fail(kind_for_errno(ec.value()), "list objects", m_options.root.string(), ec.message());
        }
        for (; it != end; it.increment(ec)) {
            if (ec) {
                return fail(kind_for_errno(ec.value()), "list objects", m_options.root.string(), ec.message());
            }
            if (!it->is_regular_file(ec)) {
                continue;
            }
            std::string key = fs::relative(it->path(), m_options.root).generic_string();
            if (key.find(k_temp_marker) != std::string::npos || key.rfind(prefix, 0) != 0) {
                continue;
            }
            struct stat st {};
            if (::stat(it->path().c_str(), &st) != 0) {
                continue; // removed while listing
            }
            out.push_back({key, static_cast<std::uint64_t>(st.st_size), static_cast<std::int64_t>(st.st_mtime)});
        }
        std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
        return out;
    }

    Status remove(const std::vector<std::string>& keys) override
    {
        for (const auto& key : keys) {
            auto path = resolve(key);
            if (!path) {
                return std::unexpected(path.error());
            }
            if (::unlink(path->c_str()) != 0 && errno != ENOENT) {
                int e = errno;
                return fail(kind_for_errno(e), "remove object", key, errno_message(e));
            }
            // Remove emptied month/year folders; rmdir fails harmlessly when not empty.
            fs::path dir = path->parent_path();
            while (dir != m_options.root && dir.string().size() > m_options.root.string().size()) {
                if (::rmdir(dir.c_str()) != 0) {
                    break;
                }
                dir = dir.parent_path();
            }
        }
        return {};
    }

    Result<bool> create_if_absent(const std::string& key, const std::string& bytes) override
    {
        // Write a temp file, then link() it into place: link fails with EEXIST if the key exists, so the
        // object appears atomically and complete (O_EXCL alone could expose a half-written file).
        auto t = create_temp(key);
        if (!t) {
            return std::unexpected(t.error());
        }
        const int fd = t->fd;
        const fs::path& temp = t->temp;
        const auto path = &t->final_path;
        auto st = write_all(fd, as_bytes(bytes), key);
        if (st && ::fsync(fd) != 0) {
            st = fail(ErrorKind::failed, "sync object", key, errno_message(errno));
        }
        ::close(fd);
        if (!st) {
            ::unlink(temp.c_str());
            return std::unexpected(st.error());
        }
        int rc = ::link(temp.c_str(), path->c_str());
        int e = errno;
        ::unlink(temp.c_str());
        if (rc != 0) {
            if (e == EEXIST) {
                return false;
            }
            return fail(kind_for_errno(e), "create object", key, errno_message(e));
        }
        (void)fsync_dir(path->parent_path());
        return true;
    }

    bool supports_conditional_create() const override { return true; }

    std::string describe() const override { return "local " + m_options.root.string(); }

    std::vector<Finding> probe(const std::string& key_prefix) override
    {
        const std::string folder_rights = "check the permissions of " + m_options.root.string();
        return probe_round_trip(*this, key_prefix,
                                {.write = "make " + m_options.root.string() + " writable by this user",
                                 .read = folder_rights,
                                 .list = folder_rights,
                                 .remove = folder_rights});
    }

private:
    struct TempFile {
        int fd;
        fs::path temp, final_path;
    };

    // A new temp file beside the object's final path (its folders created).
    Result<TempFile> create_temp(const std::string& key) const
    {
        auto path = resolve(key);
        if (!path) {
            return std::unexpected(path.error());
        }
        if (auto st = make_parent(*path); !st) {
            return std::unexpected(st.error());
        }
        fs::path temp = path->string() + k_temp_marker + random_hex(8);
        int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        if (fd < 0) {
            int e = errno;
            return fail(kind_for_errno(e), "create object", key, errno_message(e) + " in " + m_options.root.string());
        }
        return TempFile{fd, temp, *path};
    }

    Result<fs::path> resolve(const std::string& key) const
    {
        if (key.empty() || key.front() == '/' || key.find("..") != std::string::npos) {
            return fail(ErrorKind::config, "resolve object key", key,
                        "keys must be relative and must not contain '..'");
        }
        return m_options.root / key;
    }

    LocalOptions m_options;
};

} // namespace

std::unique_ptr<Storage> make_local_storage(LocalOptions options)
{
    return std::make_unique<LocalStorage>(std::move(options));
}

} // namespace dbkeep::storage
