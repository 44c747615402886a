#include "job/show.hpp"
#include "job/context.hpp"

#include "catalog/catalog.hpp"
#include "config/config.hpp"
#include "core/human.hpp"
#include "job/open.hpp"
#include "observe/log.hpp"
#include "storage/storage.hpp"
#include "stream/counting.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <optional>

namespace dbkeep::job {
namespace {

// Reads one object through the engine; on a failure that a damaged stored object could cause, the stored object is
// checked as it is, and its SHA-256 mismatch is the error when it has one.
Status read_object(engine::Engine& engine, storage::Storage& storage, const catalog::Manifest& m,
                   const ReadOptions& read, ShownObject& shown)
{
    const std::optional<std::size_t> index = shown.part ? std::optional(shown.index) : std::nullopt;
    auto opened = shown.part ? open_backup_part(storage, m, shown.index, read) : open_backup(storage, m, read);
    if (!opened) {
        return std::unexpected(opened.error());
    }
    stream::CountingSource counted(**opened);
    Status st;
    auto contents = engine.contents(counted, shown.part, shown.part ? shown.details : m.details);
    if (!contents) {
        st = std::unexpected(contents.error());
    } else {
        shown.contents = std::move(*contents);
        // The rest, so that the object's size and SHA-256 are checked at its end.
        if (auto rest = stream::drain(counted); !rest) {
            st = std::unexpected(rest.error());
        }
    }
    if (st && shown.raw_bytes != 0 && counted.bytes() != shown.raw_bytes) {
        st = fail(ErrorKind::corruption, "read", shown.key,
                  "decompressed to " + std::to_string(counted.bytes()) + " bytes, the manifest says " +
                      std::to_string(shown.raw_bytes));
    }
    if (!st && st.error().kind != ErrorKind::cancelled && st.error().kind != ErrorKind::config) {
        if (auto stored = check_stored_object(storage, m, index); !stored) {
            return stored;
        }
    }
    return st;
}

} // namespace

std::string listing_text(const engine::Contents& c)
{
    if (c.columns.empty() || c.entries.empty()) {
        return {};
    }
    auto cell_text = [&](const std::vector<std::string>& cells, std::size_t i, bool upper) {
        std::string cell = i < cells.size() ? printable(cells[i]) : "";
        if (upper) {
            std::transform(cell.begin(), cell.end(), cell.begin(),
                           [](unsigned char ch) { return static_cast<char>(std::toupper(ch)); });
        }
        return cell;
    };
    std::vector<std::size_t> width(c.columns.size());
    for (std::size_t i = 0; i < c.columns.size(); ++i) {
        width[i] = display_width(cell_text(c.columns, i, true));
        for (const auto& row : c.entries) {
            width[i] = std::max(width[i], display_width(cell_text(row, i, false)));
        }
    }
    std::string out;
    auto line = [&](const std::vector<std::string>& cells, bool upper) {
        out += "   ";
        for (std::size_t i = 0; i < c.columns.size(); ++i) {
            std::string cell = cell_text(cells, i, upper);
            out += " " + (i + 1 < c.columns.size() ? pad_to_width(std::move(cell), width[i]) : cell);
        }
        out += "\n";
    };
    line(c.columns, true);
    for (const auto& row : c.entries) {
        line(row, false);
    }
    return out;
}

Result<ShowResult> run_show(const config::TargetConfig& target, storage::Storage& storage, const ShowRequest& request)
{
    const std::string op = "show " + target.name;
    const std::string selector = request.selector.empty() ? "latest" : request.selector;
    // The id is show's argument: the hints name no option of restore's (--at, --backup).
    const catalog::SelectorSyntax syntax{.command = "show", .id_option = "", .time_option = ""};
    auto manifest = catalog::find_backup(storage, target.name, selector, std::chrono::system_clock::now(), syntax);
    if (!manifest) {
        return wrap_once(manifest.error(), op);
    }
    auto handle = open_engine(target);
    if (!handle) {
        return wrap_once(handle.error(), op);
    }
    ShowResult result;
    result.manifest = *manifest;
    ShownObject data;
    data.key = manifest->object_key;
    data.raw_bytes = manifest->raw_bytes;
    data.stored_bytes = manifest->stored_bytes;
    data.sha256 = manifest->sha256;
    result.objects.push_back(std::move(data));
    for (std::size_t i = 0; i < manifest->parts.size(); ++i) {
        const auto& p = manifest->parts[i];
        result.objects.push_back(ShownObject{.part = true,
                                             .index = i,
                                             .key = p.key,
                                             .raw_bytes = p.raw_bytes,
                                             .stored_bytes = p.stored_bytes,
                                             .sha256 = p.sha256,
                                             .details = p.details,
                                             .contents = {}});
    }
    for (auto& shown : result.objects) {
        if (auto st = read_object(*handle->engine, storage, *manifest, request.read, shown); !st) {
            return wrap_once(st.error(), op + " backup " + manifest->id);
        }
    }
    observe::debug("show read every object", {{"target", target.name}, {"id", manifest->id}});
    return result;
}

} // namespace dbkeep::job
