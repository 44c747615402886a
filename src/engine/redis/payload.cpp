#include "engine/redis/payload.hpp"

#include "core/cancel.hpp"

#include <vector>

namespace dbkeep::engine::redis {

Result<std::size_t> PayloadPump::push(Bytes data)
{
    auto consumed = m_parser.feed(data);
    if (!consumed) {
        return consumed;
    }
    if (*consumed > 0) {
        if (auto st = m_out.write(data.first(*consumed)); !st) {
            return std::unexpected(st.error());
        }
        m_bytes += *consumed;
    }
    return consumed;
}

Status pump_process(runner::Process& proc, PayloadPump& pump, std::size_t trailing, const std::string& operation,
                    const std::string& object)
{
    std::vector<std::uint8_t> buf(k_chunk);
    std::size_t after_end = 0;
    for (;;) {
        auto n = proc.out().read(buf);
        if (!n) {
            proc.kill();
            return std::unexpected(n.error());
        }
        if (*n == 0) {
            return {};
        }
        Bytes chunk(buf.data(), *n);
        if (!pump.parser().done()) {
            auto used = pump.push(chunk);
            if (!used) {
                proc.kill();
                return wrap(used.error(), operation + " " + object);
            }
            chunk = chunk.subspan(*used);
        }
        after_end += chunk.size();
        if (after_end > trailing) {
            proc.kill();
            return fail(ErrorKind::corruption, operation, object, "data follows the end of the rdb");
        }
    }
}

void fill_info(DumpInfo& info, const rdb::Summary& s, std::uint64_t bytes)
{
    info.details["rdb_version"] = std::to_string(s.rdb_version);
    if (auto it = s.aux.find("redis-ver"); it != s.aux.end()) {
        info.details["redis_version"] = it->second;
        if (info.server_version.empty()) {
            info.server_version = it->second;
        }
    }
    info.details["rdb_bytes"] = std::to_string(bytes);
    info.details["keys_with_expiry"] = std::to_string(s.keys_with_expiry);
    info.details["rdb_checksum"] = s.checksum_verified ? "verified" : "disabled by the server";
    if (s.functions > 0) {
        info.details["function_libraries"] = std::to_string(s.functions);
    }
    for (const auto& [db, keys] : s.keys_per_db) {
        info.stats["db" + std::to_string(db)] = keys;
    }
}

std::string rdb_type_name(std::uint8_t type)
{
    switch (type) {
    case 0: return "string";
    case 1:
    case 10:
    case 14:
    case 18: return "list";
    case 2:
    case 11:
    case 20: return "set";
    case 3:
    case 5:
    case 12:
    case 17: return "zset";
    case 4:
    case 9:
    case 13:
    case 16:
    case 22:
    case 23:
    case 24:
    case 25: return "hash";
    case 15:
    case 19:
    case 21: return "stream";
    case 6:
    case 7: return "module";
    default: return "type " + std::to_string(type);
    }
}

Result<DumpInfo> inspect_rdb(stream::Source& in, std::map<std::string, std::int64_t>* types)
{
    // The parser and fill_info of the dump strategies, so the statistics are the ones a backup records.
    rdb::Parser::KeyHandler on_key;
    if (types != nullptr) {
        on_key = [types](const rdb::Entry& e) -> Status {
            ++(*types)[rdb_type_name(e.type)];
            return {};
        };
    }
    rdb::Parser parser({}, on_key);
    std::vector<std::uint8_t> buf(k_chunk);
    std::uint64_t bytes = 0;
    for (;;) {
        if (cancel::requested()) {
            return fail_cancelled("read", "rdb");
        }
        auto n = in.read(buf);
        if (!n) {
            return std::unexpected(n.error());
        }
        if (*n == 0) {
            break;
        }
        auto used = parser.feed(Bytes(buf.data(), *n));
        if (!used) {
            return std::unexpected(used.error());
        }
        bytes += *used;
        if (*used != *n) {
            return fail(ErrorKind::corruption, "read", "rdb",
                        "data follows the end of the rdb (at byte " + std::to_string(bytes) + ")");
        }
    }
    if (auto st = parser.finish(); !st) {
        return std::unexpected(st.error());
    }
    DumpInfo info;
    fill_info(info, parser.summary(), bytes);
    return info;
}

} // namespace dbkeep::engine::redis
