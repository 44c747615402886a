// Redis restore: the RDB read from a source and replayed into a live server as pipelined RESTORE (and
// FUNCTION LOAD) commands, over RESP from here or through `redis-cli --pipe` where the runner runs.
#pragma once

#include "core/error.hpp"
#include "engine/engine.hpp"
#include "engine/redis/server.hpp"
#include "runner/runner.hpp"
#include "stream/sink.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace dbkeep::engine::redis {

// Restores the RDB read from `in` into the server at ep, reached as the runner (which must outlive the call)
// reaches it. Keys already expired are skipped; the backup's keys replace keys of the same name. A key's LRU
// idle time or LFU counter (the RDB's IDLE / FREQ opcodes) goes along as RESTORE's IDLETIME or FREQ: the one
// the destination's maxmemory-policy tracks when the RDB has both.
//
// Before the destination is touched (before FLUSHALL with options.flush) it fails, writing nothing, when:
// the destination's Redis cannot load the RDB version (options.details["rdb_version"] and the stream's
// header); it refuses SELECT for a database options.expected_stats names ("db20"), for want of databases or
// of the ACL permission; it holds keys and neither options.flush nor options.merge is set
// (ErrorKind::config, naming both); or its maxmemory cannot hold the memory the backup's keys took on the
// source (options.details "used_memory", less "used_memory_startup" and "mem_not_counted_for_evict") on top of
// what it holds (after the flush) (ErrorKind::config, naming the numbers and the maxmemory to set), unless
// options.force, which only warns. Without "used_memory" (older manifests) that check is skipped with a note.
//
// While restoring, every reply is checked: a SELECT is sent alone and its reply read before any key of that
// database, so a refused SELECT stops the restore with no key written anywhere but its own database, and the
// error says how many keys went into which database. Other failures: the first refused command (ErrorKind::auth
// for NOPERM, a hint when the destination is older than the RDB), a truncated or corrupt RDB, cancellation.
// What was restored before stays.
//
// Afterwards, the destination's key count of each database is compared with the keys sent: keys the server
// evicted (INFO stats evicted_keys grew) or that are missing fail the restore, naming the numbers.
Status restore_rdb(runner::Runner& runner, const Endpoint& ep, stream::Source& in, const RestoreOptions& options);

// The highest RDB version a Redis of this version ("7.0.15") loads, from rdb.h's history: 13 from 8.6, 12 from
// 7.4, 11 from 7.2, 10 from 7.0, 9 from 5.0, 8 from 4.0, 7 from 3.2, 6 from 2.6. Nothing when the version is
// not a version or newer than that history (its limit is unknown). Pure, for tests.
std::optional<int> max_rdb_version_loaded_by(std::string_view redis_version);

// The oldest Redis version that loads this RDB version ("7.4" for 12); empty when unknown. Pure, for tests.
std::string oldest_redis_loading(int rdb_version);

} // namespace dbkeep::engine::redis
