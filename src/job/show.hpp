// `dbkeep show`: a stored backup's manifest and what its objects hold, read from storage (decrypted, each
// object's size and SHA-256 checked) without restoring anything.
#pragma once

#include "catalog/manifest.hpp"
#include "engine/engine.hpp"
#include "job/pipeline.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace dbkeep::config {
struct TargetConfig;
}
namespace dbkeep::storage {
class Storage;
}

namespace dbkeep::job {

struct ShowRequest {
    std::string selector = "latest"; // backup id, "latest" or an RFC 3339 time
    ReadOptions read;                // identities for an encrypted backup
};

// One object of the backup as show read it.
struct ShownObject {
    bool part = false;           // false: the data object
    std::size_t index = 0;       // the part's index in manifest.parts (0-based) when part
    std::string key;             // its key in storage
    std::uint64_t raw_bytes = 0; // as the manifest records them
    std::uint64_t stored_bytes = 0;
    std::string sha256;
    std::map<std::string, std::string> details; // the part's details (empty for the data object)
    engine::Contents contents;                  // what the engine read in it (empty kind: not read by the engine)
};

struct ShowResult {
    catalog::Manifest manifest;
    std::vector<ShownObject> objects; // the data object, then the parts in the manifest's order
};

// The listing of c (its columns and entries) as show prints it: a header of the column names in capitals, then
// a line per entry, each cell printable (core/human.hpp) and padded to its column's display width
// (display_width: a non-ASCII name such as "café" or "日本" lines up with ASCII ones); each line begins with four
// spaces and ends with a newline, the last column unpadded. Empty when c has no columns or no entries. Pure.
std::string listing_text(const engine::Contents& c);

// Reads the backup `request.selector` names (the newest complete one for "latest") of target: each object is read
// to its end through the target's engine (Engine::contents), its size and SHA-256 checked against the manifest and
// its decompressed size against the manifest's raw size. Fails with ErrorKind::not_found for an unknown id,
// ErrorKind::config for an encrypted backup without an identity, ErrorKind::corruption when an object does not
// match the manifest (a damaged object that zstd or age reject first is checked again as stored, so the error
// names the SHA-256 mismatch) or the engine finds it malformed, ErrorKind::cancelled on cancel::requested(), or
// as storage fails. Writes nothing anywhere.
Result<ShowResult> run_show(const config::TargetConfig& target, storage::Storage& storage, const ShowRequest& request);

} // namespace dbkeep::job
