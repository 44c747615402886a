#include "catalog/manifest.hpp"

#include <nlohmann/json.hpp>

namespace dbkeep::catalog {

using nlohmann::json;

const char* trigger_name(Trigger trigger) noexcept
{
    return trigger == Trigger::manual ? "manual" : "scheduled";
}

std::string to_json(const Manifest& m)
{
    json j = {
        {"format", m.parts.empty() ? k_manifest_format_single : k_manifest_format},
        {"id", m.id},
        {"target", m.target},
        {"engine", m.engine},
        {"server_version", m.server_version},
        {"tool", m.tool},
        {"tool_version", m.tool_version},
        {"started_at", m.started_at},
        {"finished_at", m.finished_at},
        {"started_unix_ms", m.started_unix_ms},
        {"finished_unix_ms", m.finished_unix_ms},
        {"object",
         {{"key", m.object_key},
          {"raw_bytes", m.raw_bytes},
          {"stored_bytes", m.stored_bytes},
          {"sha256", m.sha256},
          {"compression", m.compression},
          {"compression_level", m.compression_level},
          {"encryption", m.encryption},
          {"recipients", m.encryption_recipients}}},
        {"runner", m.runner},
        {"dbkeep_version", m.dbkeep_version},
        {"trigger", trigger_name(m.trigger)},
        {"stats", m.stats},
        {"details", m.details},
    };
    if (!m.parts.empty()) {
        json parts = json::array();
        for (const auto& p : m.parts) {
            parts.push_back({{"key", p.key},
                             {"raw_bytes", p.raw_bytes},
                             {"stored_bytes", p.stored_bytes},
                             {"sha256", p.sha256},
                             {"details", p.details}});
        }
        j["parts"] = std::move(parts);
    }
    return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) +
           "\n"; // never throws on bytes that are not UTF-8
}

Result<Manifest> parse_manifest(const std::string& text, const std::string& where)
{
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        return fail(ErrorKind::corruption, "read manifest", where, "not valid JSON");
    }
    try {
        Manifest m;
        m.format = j.at("format").get<int>();
        if (m.format > k_manifest_format) {
            return fail(ErrorKind::corruption, "read manifest", where,
                        "format " + std::to_string(m.format) + " is newer than this dbkeep understands",
                        "upgrade dbkeep");
        }
        m.id = j.at("id").get<std::string>();
        m.target = j.at("target").get<std::string>();
        m.engine = j.at("engine").get<std::string>();
        m.server_version = j.value("server_version", "");
        m.tool = j.value("tool", "");
        m.tool_version = j.value("tool_version", "");
        m.started_at = j.value("started_at", "");
        m.finished_at = j.value("finished_at", "");
        m.started_unix_ms = j.value("started_unix_ms", std::int64_t{0});
        m.finished_unix_ms = j.value("finished_unix_ms", std::int64_t{0});
        const json& o = j.at("object");
        m.object_key = o.at("key").get<std::string>();
        m.raw_bytes = o.value("raw_bytes", std::uint64_t{0});
        m.stored_bytes = o.at("stored_bytes").get<std::uint64_t>();
        m.sha256 = o.at("sha256").get<std::string>();
        m.compression = o.value("compression", "zstd");
        m.compression_level = o.value("compression_level", 3);
        m.encryption = o.value("encryption", "");
        m.encryption_recipients = o.value("recipients", std::vector<std::string>{});
        m.runner = j.value("runner", "");
        m.dbkeep_version = j.value("dbkeep_version", "");
        const std::string trigger = j.value("trigger", "scheduled");
        if (trigger == "manual") {
            m.trigger = Trigger::manual;
        } else if (trigger != "scheduled") {
            return fail(ErrorKind::corruption, "read manifest", where,
                        "unknown trigger '" + trigger + "' (expected scheduled or manual)");
        }
        m.stats = j.value("stats", std::map<std::string, std::int64_t>{});
        m.details = j.value("details", std::map<std::string, std::string>{});
        if (j.contains("parts")) {
            if (m.format < k_manifest_format) {
                return fail(ErrorKind::corruption, "read manifest", where, "a format 1 manifest with parts");
            }
            for (const json& p : j.at("parts")) {
                Part part;
                part.key = p.at("key").get<std::string>();
                part.raw_bytes = p.value("raw_bytes", std::uint64_t{0});
                part.stored_bytes = p.at("stored_bytes").get<std::uint64_t>();
                part.sha256 = p.at("sha256").get<std::string>();
                part.details = p.value("details", std::map<std::string, std::string>{});
                m.parts.push_back(std::move(part));
            }
        }
        return m;
    } catch (const json::exception& e) {
        return fail(ErrorKind::corruption, "read manifest", where,
                    std::string("missing or mistyped field: ") + e.what());
    }
}

} // namespace dbkeep::catalog
