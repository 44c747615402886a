// The bgsave strategy: BGSAVE on the server, then the file it wrote read through the runner with `cat`.
#include "engine/redis/dump.hpp"

#include "core/cancel.hpp"
#include "engine/redis/payload.hpp"
#include "observe/log.hpp"

#include <chrono>
#include <thread>

namespace dbkeep::engine::redis {
namespace {

// Waits until a BGSAVE started after the counters were read has finished; fails when it failed.
Status wait_for_bgsave(Server& conn, std::int64_t saves_before, std::int64_t lastsave_before, bool have_saves)
{
    for (;;) {
        if (cancel::requested()) {
            return fail_cancelled("wait for BGSAVE on", conn.endpoint());
        }
        auto p = info_section(conn, "persistence");
        if (!p) {
            return std::unexpected(p.error());
        }
        if ((*p)["rdb_bgsave_in_progress"] == "0") {
            bool finished = false;
            if (have_saves) {
                finished = info_int(*p, "rdb_saves") > saves_before;
            } else {
                finished = info_int(*p, "rdb_last_save_time") != lastsave_before;
            }
            if (finished || (*p)["rdb_last_bgsave_status"] != "ok") {
                if ((*p)["rdb_last_bgsave_status"] != "ok") {
                    return fail(ErrorKind::failed, "run BGSAVE on", conn.endpoint(), "the background save failed",
                                "see the redis log (disk full? permissions of 'dir'?)");
                }
                return {};
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

class BgsaveDump final : public DumpStrategy {
public:
    explicit BgsaveDump(runner::Runner& runner) : m_runner(runner) {}

    const char* tool() const override { return "redis-bgsave"; }

    Status dump(Session& session, stream::Sink& out, DumpInfo& info) override
    {
        Server& conn = *session.server;
        const std::string& ep = conn.endpoint();
        for (int attempt = 0;; ++attempt) {
            auto before = info_section(conn, "persistence");
            if (!before) {
                return std::unexpected(before.error());
            }
            bool have_saves = before->contains("rdb_saves");
            std::int64_t saves = info_int(*before, "rdb_saves");
            std::int64_t lastsave = info_int(*before, "rdb_last_save_time");
            auto r = conn.command({"BGSAVE"});
            if (!r) {
                return std::unexpected(r.error());
            }
            if (r->is_error()) {
                if (r->text.find("in progress") != std::string::npos && attempt < 100) {
                    // Another save runs: wait for it, then ask for ours so the file is not older than now.
                    if (auto st = wait_for_bgsave(conn, saves, lastsave, have_saves); !st) {
                        return st;
                    }
                    continue;
                }
                return error_reply(*r, "run BGSAVE on", ep);
            }
            if (auto st = wait_for_bgsave(conn, saves, lastsave, have_saves); !st) {
                return st;
            }
            break;
        }
        auto dir = config_get(conn, "dir");
        if (!dir) {
            return wrap(dir.error(), "find the rdb file (set 'mode: replication' if CONFIG is disabled)");
        }
        auto file = config_get(conn, "dbfilename");
        if (!file) {
            return std::unexpected(file.error());
        }
        std::string path = *dir + "/" + *file;
        observe::debug("reading rdb file", {{"path", path}, {"runner", m_runner.describe()}});
        auto proc = m_runner.start(runner::Command{.argv = {"cat", path}});
        if (!proc) {
            return std::unexpected(proc.error());
        }
        PayloadPump pump(out);
        if (auto st = pump_process(**proc, pump, 0, "read", path); !st) {
            return st;
        }
        auto status = (*proc)->wait();
        if (!status) {
            return std::unexpected(status.error());
        }
        if (!status->ok()) {
            return fail(ErrorKind::failed, "read rdb file", path,
                        "cat " + status->describe() + ": " + (*proc)->error_output().substr(0, 500),
                        "the rdb file must be readable where the target's runner runs");
        }
        if (auto st = pump.parser().finish(); !st) {
            return wrap(st.error(), "read " + path);
        }
        fill_info(info, pump.parser().summary(), pump.bytes());
        info.details["rdb_path"] = path;
        return {};
    }

    // The commands the dump runs: INFO persistence, BGSAVE (sent with two extra arguments, which it refuses
    // with a syntax error after the permission check and before saving: "unknown command" when renamed,
    // NOPERM when denied), CONFIG GET dir and dbfilename.
    std::vector<Finding> probe(Server& server) override
    {
        std::vector<Finding> out;
        const char* remedy = "ACL SETUSER <user> +bgsave +info +config|get, or use mode: replication";
        if (auto p = info_section(server, "persistence"); !p) {
            out.push_back(failed("redis.bgsave", "INFO persistence failed: " + p.error().message, remedy));
            return out;
        }
        auto r = server.command({"BGSAVE", "dbkeep-check", "dbkeep-check"});
        if (!r) {
            out.push_back(failed("redis.bgsave", "BGSAVE could not be tried: " + r.error().message, remedy));
            return out;
        }
        if (r->is_error() && r->text.find("unknown command") != std::string::npos) {
            out.push_back(failed("redis.bgsave", "BGSAVE is renamed or disabled: use mode: replication",
                                 "set 'mode: replication' on the target, or enable BGSAVE again (rename-command in "
                                 "redis.conf)"));
            return out;
        }
        if (r->is_error() && r->text.find("syntax error") == std::string::npos) {
            out.push_back(failed("redis.bgsave", "BGSAVE refused: " + r->text, remedy));
            return out;
        }
        auto dir = config_get(server, "dir");
        auto file = config_get(server, "dbfilename");
        if (!dir || !file) {
            out.push_back(failed("redis.bgsave",
                                 "cannot read the rdb location: " + (!dir ? dir.error().message : file.error().message),
                                 remedy));
        } else {
            out.push_back(pass("redis.bgsave", "user may run BGSAVE; rdb files are written to " + *dir + "/" + *file));
        }
        return out;
    }

private:
    runner::Runner& m_runner;
};

} // namespace

std::unique_ptr<DumpStrategy> make_bgsave_dump(runner::Runner& runner)
{
    return std::make_unique<BgsaveDump>(runner);
}

} // namespace dbkeep::engine::redis
