#include "storage/local.hpp"

#include "core/cancel.hpp"
#include "observe/log.hpp"

#include <algorithm>
#include <cerrno>
#include <dirent.h>
#include <fcntl.h>
#include <random>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

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

constexpr mode_t k_folder_mode = 0750;
constexpr mode_t k_object_mode = 0640;

// An owned file descriptor.
class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : m_fd(fd) {}
    Fd(Fd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
    Fd& operator=(Fd&& other) noexcept
    {
        if (this != &other) {
            reset();
            m_fd = std::exchange(other.m_fd, -1);
        }
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { reset(); }
    int get() const noexcept { return m_fd; }
    int release() noexcept { return std::exchange(m_fd, -1); }
    void reset() noexcept
    {
        if (m_fd >= 0) {
            ::close(m_fd);
            m_fd = -1;
        }
    }

private:
    int m_fd = -1;
};

std::string symlink_message(const std::string& what)
{
    return what + " is a symbolic link or not a folder; local storage never follows symbolic links beneath its root";
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
    LocalWriter(Fd file, Fd dir, std::string temp, std::string final_name, std::string key)
        : m_file(std::move(file)), m_dir(std::move(dir)), m_temp(std::move(temp)), m_final(std::move(final_name)),
          m_key(std::move(key))
    {
    }
    ~LocalWriter() override { abort(); }

    Status write(Bytes data) override
    {
        if (m_file.get() < 0) {
            return fail(ErrorKind::failed, "write object", m_key, "writer already closed");
        }
        return write_all(m_file.get(), data, m_key);
    }

    Status finish() override
    {
        if (m_file.get() < 0) {
            return fail(ErrorKind::failed, "commit object", m_key, "writer already closed");
        }
        if (::fsync(m_file.get()) != 0) {
            int e = errno;
            abort();
            return fail(kind_for_errno(e), "sync object", m_key, errno_message(e));
        }
        m_file.reset();
        if (::renameat(m_dir.get(), m_temp.c_str(), m_dir.get(), m_final.c_str()) != 0) {
            int e = errno;
            ::unlinkat(m_dir.get(), m_temp.c_str(), 0);
            m_removed = true;
            return fail(kind_for_errno(e), "commit object", m_key, errno_message(e));
        }
        m_committed = true;
        ::fsync(m_dir.get()); // best effort: some network file systems refuse fsync on folders
        return {};
    }

    void abort() noexcept override
    {
        m_file.reset();
        if (!m_committed && !m_removed && m_dir.get() >= 0) {
            ::unlinkat(m_dir.get(), m_temp.c_str(), 0);
            m_removed = true;
        }
    }

private:
    Fd m_file, m_dir;
    std::string m_temp, m_final;
    std::string m_key;
    bool m_committed = false;
    bool m_removed = false;
};

class FileSource final : public stream::Source {
public:
    FileSource(Fd fd, std::uint64_t remaining, std::string key)
        : m_fd(std::move(fd)), m_remaining(remaining), m_key(std::move(key))
    {
    }

    Result<std::size_t> read(MutableBytes out) override
    {
        if (m_remaining == 0) {
            return 0;
        }
        std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), m_remaining));
        for (;;) {
            ssize_t n = ::read(m_fd.get(), out.data(), want);
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
    Fd m_fd;
    std::uint64_t m_remaining;
    std::string m_key;
};

// A key split into its folders and its file name; every part non-empty and neither "." nor "..".
struct KeyParts {
    std::vector<std::string> folders;
    std::string name;
};

Result<KeyParts> split_key(const std::string& key)
{
    KeyParts parts;
    std::size_t start = 0;
    for (;;) {
        auto slash = key.find('/', start);
        std::string part = key.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
        if (part.empty() || part == "." || part == ".." || part.find('\0') != std::string::npos) {
            return fail(ErrorKind::config, "resolve object key", key,
                        "keys must be relative, without empty, '.' or '..' parts");
        }
        if (slash == std::string::npos) {
            parts.name = part;
            return parts;
        }
        parts.folders.push_back(std::move(part));
        start = slash + 1;
    }
}

// A folder's open descriptors from the root down: chain[0] is the root, chain[i] the folder folders[i-1].
struct FolderChain {
    std::vector<Fd> chain;
    int last() const { return chain.back().get(); }
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
        return std::make_unique<LocalWriter>(std::move(t->file), std::move(t->dir), t->temp, t->final_name, key);
    }

    Result<std::unique_ptr<stream::Source>> open_reader(const std::string& key, ByteRange range) override
    {
        auto opened = open_parent(key, false);
        if (!opened) {
            return std::unexpected(opened.error());
        }
        const auto& [parts, folders] = *opened;
        // O_NONBLOCK: opening a FIFO planted under the root must not hang; cleared below for a regular file.
        Fd fd(::openat(folders.last(), parts.name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
        if (fd.get() < 0) {
            int e = errno;
            if (e == ELOOP) {
                return fail(ErrorKind::corruption, "open object", key, symlink_message(key));
            }
            return fail(kind_for_errno(e), "open object", key, errno_message(e));
        }
        struct stat st {};
        if (::fstat(fd.get(), &st) != 0) {
            int e = errno;
            return fail(kind_for_errno(e), "open object", key, errno_message(e));
        }
        if (S_ISDIR(st.st_mode)) {
            return fail(ErrorKind::not_found, "open object", key, "no such object");
        }
        if (!S_ISREG(st.st_mode)) {
            return fail(ErrorKind::corruption, "open object", key, "not a regular file: local storage refuses it");
        }
        ::fcntl(fd.get(), F_SETFL, O_RDONLY);
        auto size = static_cast<std::uint64_t>(st.st_size);
        if (range.offset > 0) {
            if (::lseek(fd.get(), static_cast<off_t>(range.offset), SEEK_SET) < 0) {
                int e = errno;
                return fail(ErrorKind::failed, "seek object", key, errno_message(e));
            }
        }
        std::uint64_t remaining = range.offset >= size ? 0 : size - range.offset;
        if (range.length) {
            remaining = std::min(remaining, *range.length);
        }
        return std::make_unique<FileSource>(std::move(fd), remaining, key);
    }

    Result<ObjectInfo> stat(const std::string& key) override
    {
        auto opened = open_parent(key, false);
        if (!opened) {
            return std::unexpected(opened.error());
        }
        const auto& [parts, folders] = *opened;
        struct stat st {};
        if (::fstatat(folders.last(), parts.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
            int e = errno;
            return fail(kind_for_errno(e == 0 ? ENOENT : e), "stat object", key, "no such object");
        }
        return ObjectInfo{key, static_cast<std::uint64_t>(st.st_size), static_cast<std::int64_t>(st.st_mtime)};
    }

    Result<std::vector<ObjectInfo>> list(const std::string& prefix) override
    {
        std::vector<ObjectInfo> out;
        auto walked = walk(prefix, [&](const std::string& key, const struct stat& st) {
            if (key.find(k_temp_marker) == std::string::npos) {
                out.push_back({key, static_cast<std::uint64_t>(st.st_size), static_cast<std::int64_t>(st.st_mtime)});
            }
        });
        if (!walked) {
            return std::unexpected(walked.error());
        }
        std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
        return out;
    }

    Result<std::vector<IncompleteWrite>> list_incomplete(const std::string& prefix) override
    {
        std::vector<IncompleteWrite> out;
        auto walked = walk(prefix, [&](const std::string& key, const struct stat& st) {
            auto marker = key.rfind(k_temp_marker);
            if (marker != std::string::npos && key.find('/', marker) == std::string::npos) {
                out.push_back({key.substr(0, marker), key, static_cast<std::int64_t>(st.st_mtime),
                               static_cast<std::uint64_t>(st.st_size)});
            }
        });
        if (!walked) {
            return std::unexpected(walked.error());
        }
        std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.handle < b.handle; });
        return out;
    }

    Status discard_incomplete(const IncompleteWrite& write) override
    {
        if (!write.handle.starts_with(write.key + k_temp_marker)) {
            return fail(ErrorKind::config, "discard incomplete write", write.handle,
                        "not a temp file of " + write.key + "; nothing removed");
        }
        return remove({write.handle});
    }

    Status remove(const std::vector<std::string>& keys) override
    {
        for (const auto& key : keys) {
            auto opened = open_parent(key, false);
            if (!opened) {
                if (opened.error().kind == ErrorKind::not_found) {
                    continue;
                }
                return std::unexpected(opened.error());
            }
            const auto& [parts, folders] = *opened;
            struct stat st {};
            if (::fstatat(folders.last(), parts.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
                if (errno == ENOENT) {
                    continue;
                }
                int e = errno;
                return fail(kind_for_errno(e), "remove object", key, errno_message(e));
            }
            if (!S_ISREG(st.st_mode)) {
                return fail(ErrorKind::corruption, "remove object", key,
                            "not a regular file (a folder or a symbolic link): nothing removed");
            }
            if (::unlinkat(folders.last(), parts.name.c_str(), 0) != 0 && errno != ENOENT) {
                int e = errno;
                return fail(kind_for_errno(e), "remove object", key, errno_message(e));
            }
            // Remove emptied month/year folders; rmdir fails harmlessly when not empty.
            for (std::size_t i = parts.folders.size(); i > 0; --i) {
                if (::unlinkat(folders.chain[i - 1].get(), parts.folders[i - 1].c_str(), AT_REMOVEDIR) != 0) {
                    break;
                }
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
        const int dir = t->dir.get();
        auto st = write_all(t->file.get(), as_bytes(bytes), key);
        if (st && ::fsync(t->file.get()) != 0) {
            st = fail(ErrorKind::failed, "sync object", key, errno_message(errno));
        }
        t->file.reset();
        if (!st) {
            ::unlinkat(dir, t->temp.c_str(), 0);
            return std::unexpected(st.error());
        }
        int rc = ::linkat(dir, t->temp.c_str(), dir, t->final_name.c_str(), 0);
        int e = errno;
        ::unlinkat(dir, t->temp.c_str(), 0);
        if (rc != 0) {
            if (e == EEXIST) {
                return false;
            }
            return fail(kind_for_errno(e), "create object", key, errno_message(e));
        }
        ::fsync(dir); // best effort
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
        Fd file, dir;
        std::string temp, final_name;
    };

    // The root folder (which may itself be a symbolic link: the user named it), created with its missing
    // parents (mode 0750 whatever the umask) when `create`.
    Result<Fd> open_root(bool create) const
    {
        const fs::path& root = m_options.root;
        // A file where the root (or a folder above it) should be: no permission fixes that.
        const auto failed_open = [&root](int e) {
            return fail(kind_for_errno(e), "open folder", root.string(), errno_message(e),
                        e == ENOTDIR ? root.string() + " (or a folder above it) is a file: move it away, or point "
                                                       "the storage at a folder"
                                     : std::string());
        };
        Fd fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (fd.get() >= 0 || errno != ENOENT || !create) {
            if (fd.get() < 0) {
                return failed_open(errno);
            }
            return fd;
        }
        fs::path partial;
        for (const auto& part : root) {
            partial /= part;
            if (::mkdir(partial.c_str(), k_folder_mode) == 0) {
                ::chmod(partial.c_str(), k_folder_mode);
            } else if (errno != EEXIST) {
                int e = errno;
                return fail(e == EACCES ? ErrorKind::auth : ErrorKind::failed, "create folder", partial.string(),
                            errno_message(e));
            }
        }
        fd = Fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (fd.get() < 0) {
            return failed_open(errno);
        }
        return fd;
    }

    // The folders of a key, each opened without following a symbolic link (and created, mode 0750, when
    // `create`). A missing folder fails with not_found; a symbolic link with corruption.
    Result<FolderChain> open_folders(const std::vector<std::string>& folders, bool create, const std::string& key) const
    {
        FolderChain c;
        auto root = open_root(create && m_options.create_root);
        if (!root) {
            return std::unexpected(root.error());
        }
        c.chain.push_back(std::move(*root));
        std::string path;
        for (const auto& name : folders) {
            path += name + "/";
            bool created = false;
            if (create) {
                if (::mkdirat(c.last(), name.c_str(), k_folder_mode) == 0) {
                    created = true;
                } else if (errno != EEXIST) {
                    int e = errno;
                    return fail(e == EACCES ? ErrorKind::auth : ErrorKind::failed, "create folder",
                                (m_options.root / path).string(), errno_message(e));
                }
            }
            Fd next(::openat(c.last(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (next.get() < 0) {
                int e = errno;
                if (e == ELOOP || e == ENOTDIR) {
                    return fail(ErrorKind::corruption, "open folder of", key, symlink_message(path),
                                "replace " + (m_options.root / path).string() + " with a real folder");
                }
                return fail(kind_for_errno(e), "open folder of", key, errno_message(e));
            }
            if (created) {
                ::fchmod(next.get(), k_folder_mode);
            }
            c.chain.push_back(std::move(next));
        }
        return c;
    }

    // A key's file name and its folders opened (and created, mode 0750, when `create`) as open_folders does.
    // Fails with config for a key that is not relative and clean, else as open_folders.
    struct OpenedParent {
        KeyParts parts;
        FolderChain folders;
    };
    Result<OpenedParent> open_parent(const std::string& key, bool create) const
    {
        auto parts = split_key(key);
        if (!parts) {
            return std::unexpected(parts.error());
        }
        auto folders = open_folders(parts->folders, create, key);
        if (!folders) {
            return std::unexpected(folders.error());
        }
        return OpenedParent{std::move(*parts), std::move(*folders)};
    }

    // A new temp file beside the object's final name (its folders created), mode 0640 whatever the umask.
    Result<TempFile> create_temp(const std::string& key) const
    {
        auto opened = open_parent(key, true);
        if (!opened) {
            return std::unexpected(opened.error());
        }
        auto& [parts, folders] = *opened;
        std::string temp = parts.name + k_temp_marker + random_hex(8);
        Fd fd(::openat(folders.last(), temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                       k_object_mode));
        if (fd.get() < 0) {
            int e = errno;
            return fail(kind_for_errno(e), "create object", key, errno_message(e) + " in " + m_options.root.string());
        }
        ::fchmod(fd.get(), k_object_mode);
        return TempFile{std::move(fd), std::move(folders.chain.back()), temp, parts.name};
    }

    // Calls visit(key, stat) for every regular file whose key starts with prefix, descending only into real
    // folders (never through a symbolic link). Fails rather than returning part of the tree.
    template <typename Visit> Status walk(const std::string& prefix, Visit&& visit) const
    {
        auto root = open_root(false);
        if (!root) {
            return root.error().kind == ErrorKind::not_found ? Status{} : Status(std::unexpected(root.error()));
        }
        // Start at the folder part of the prefix.
        std::vector<std::string> folders;
        std::string base;
        auto slash = prefix.rfind('/');
        if (slash != std::string::npos) {
            auto parts = split_key(prefix.substr(0, slash) + "/x");
            if (!parts) {
                return std::unexpected(parts.error());
            }
            folders = parts->folders;
            base = prefix.substr(0, slash + 1);
        }
        auto chain = open_folders(folders, false, prefix);
        if (!chain) {
            // Missing: nothing there. A symbolic link fails the listing (never a silent empty one).
            return chain.error().kind == ErrorKind::not_found ? Status{} : Status(std::unexpected(chain.error()));
        }
        return walk_folder(chain->chain.back().release(), base, prefix, visit, 0);
    }

    // Takes ownership of dirfd.
    template <typename Visit>
    Status walk_folder(int dirfd, const std::string& base, const std::string& prefix, Visit& visit, int depth) const
    {
        DIR* d = ::fdopendir(dirfd);
        if (d == nullptr) {
            int e = errno;
            ::close(dirfd);
            return fail(kind_for_errno(e), "list objects", m_options.root.string() + "/" + base, errno_message(e));
        }
        std::unique_ptr<DIR, int (*)(DIR*)> guard(d, ::closedir);
        if (depth > 64) {
            return fail(ErrorKind::failed, "list objects", m_options.root.string() + "/" + base,
                        "folders nested more than 64 deep");
        }
        for (;;) {
            errno = 0;
            struct dirent* ent = ::readdir(d);
            if (ent == nullptr) {
                if (errno != 0) {
                    int e = errno;
                    return fail(kind_for_errno(e), "list objects", m_options.root.string() + "/" + base,
                                errno_message(e));
                }
                return {};
            }
            std::string name = ent->d_name;
            if (name == "." || name == "..") {
                continue;
            }
            std::string key = base + name;
            struct stat st {};
            if (::fstatat(::dirfd(d), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
                continue; // removed while listing
            }
            if (S_ISLNK(st.st_mode)) {
                if (!key.starts_with(prefix) && !prefix.starts_with(key)) {
                    continue;
                }
                observe::warn("skipped a symbolic link in local storage (never followed)",
                              {{"path", (m_options.root / key).string()}});
                continue;
            }
            if (S_ISDIR(st.st_mode)) {
                std::string sub = key + "/";
                // Descend only where keys under sub can start with prefix.
                if (!sub.starts_with(prefix) && !prefix.starts_with(sub)) {
                    continue;
                }
                int fd = ::openat(::dirfd(d), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0) {
                    if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR) {
                        continue; // removed, or replaced by a symbolic link, while listing
                    }
                    int e = errno;
                    return fail(kind_for_errno(e), "list objects", m_options.root.string() + "/" + sub,
                                errno_message(e));
                }
                if (auto st2 = walk_folder(fd, sub, prefix, visit, depth + 1); !st2) {
                    return st2;
                }
            } else if (S_ISREG(st.st_mode) && key.starts_with(prefix)) {
                visit(key, st);
            }
        }
    }

    LocalOptions m_options;
};

} // namespace

std::unique_ptr<Storage> make_local_storage(LocalOptions options)
{
    return std::make_unique<LocalStorage>(std::move(options));
}

} // namespace dbkeep::storage
