#include "stream/sink.hpp"

#include "core/cancel.hpp"

#include <algorithm>

#include <vector>

namespace dbkeep::stream {

Result<std::uint64_t> copy(Source& source, Sink& sink, std::size_t chunk)
{
    std::vector<std::uint8_t> buf(chunk);
    std::uint64_t total = 0;
    for (;;) {
        if (cancel::requested()) {
            return fail_cancelled("copy stream", "");
        }
        auto n = source.read(buf);
        if (!n) {
            return std::unexpected(n.error());
        }
        if (*n == 0) {
            return total;
        }
        if (auto st = sink.write(Bytes(buf.data(), *n)); !st) {
            return std::unexpected(st.error());
        }
        total += *n;
    }
}

Result<std::string> read_all(Source& source, std::size_t max_bytes)
{
    std::string out;
    std::uint8_t buf[64 * 1024];
    for (;;) {
        auto n = source.read(buf);
        if (!n) {
            return std::unexpected(n.error());
        }
        if (*n == 0) {
            return out;
        }
        out.append(reinterpret_cast<const char*>(buf), *n);
        if (out.size() > max_bytes) {
            return fail(ErrorKind::corruption, "read object", "", "larger than expected");
        }
    }
}

namespace {
class StringSource final : public Source {
public:
    explicit StringSource(std::string data) : m_data(std::move(data)) {}
    Result<std::size_t> read(MutableBytes out) override
    {
        std::size_t n = std::min(out.size(), m_data.size() - m_pos);
        std::copy_n(m_data.data() + m_pos, n, reinterpret_cast<char*>(out.data()));
        m_pos += n;
        return n;
    }

private:
    std::string m_data;
    std::size_t m_pos = 0;
};

class StringSink final : public Sink {
public:
    explicit StringSink(std::string& out) : m_out(out) {}
    Status write(Bytes data) override
    {
        m_out.append(as_chars(data));
        return {};
    }
    Status finish() override { return {}; }
    void abort() noexcept override {}

private:
    std::string& m_out;
};
} // namespace

std::unique_ptr<Source> make_string_source(std::string data)
{
    return std::make_unique<StringSource>(std::move(data));
}
std::unique_ptr<Sink> make_string_sink(std::string& out)
{
    return std::make_unique<StringSink>(out);
}

} // namespace dbkeep::stream
