#include "job/open.hpp"

#include "config/config.hpp"
#include "engine/engine.hpp"
#include "runner/runner.hpp"
#include "storage/local.hpp"
#include "storage/s3/s3.hpp"

namespace dbkeep::job {
namespace {

template <class... F> struct Overloaded : F... {
    using F::operator()...;
};
// GCC deduces this for aggregates (P1816); clang 16, which clang-tidy uses, needs the guide.
template <class... F> Overloaded(F...) -> Overloaded<F...>;

} // namespace

Result<std::unique_ptr<storage::Storage>> open_storage(const config::StorageConfig& config)
{
    return std::visit(Overloaded{
                          [](const storage::LocalOptions& o) -> Result<std::unique_ptr<storage::Storage>> {
                              return storage::make_local_storage(o);
                          },
                          [](const storage::S3Options& o) { return storage::make_s3_storage(o); },
                      },
                      config.options);
}

Result<std::unique_ptr<runner::Runner>> open_runner(const config::TargetConfig& target)
{
    return std::visit(Overloaded{
                          [](const runner::LocalOptions&) -> Result<std::unique_ptr<runner::Runner>> {
                              return runner::make_local_runner();
                          },
                          [](const runner::CommandOptions& o) -> Result<std::unique_ptr<runner::Runner>> {
                              return runner::make_command_runner(o);
                          },
                          [](const runner::SshOptions& o) -> Result<std::unique_ptr<runner::Runner>> {
                              return runner::make_ssh_runner(o);
                          },
                          [](const runner::KubectlOptions& o) -> Result<std::unique_ptr<runner::Runner>> {
                              return runner::make_kubectl_runner(o);
                          },
                          [](const runner::DockerOptions& o) -> Result<std::unique_ptr<runner::Runner>> {
                              return runner::make_docker_runner(o);
                          },
                          [](const runner::EcsOptions& o) -> Result<std::unique_ptr<runner::Runner>> {
                              return runner::make_ecs_runner(o);
                          },
                      },
                      target.runner);
}

EngineHandle::EngineHandle() = default;
EngineHandle::EngineHandle(EngineHandle&&) noexcept = default;
EngineHandle& EngineHandle::operator=(EngineHandle&&) noexcept = default;
EngineHandle::~EngineHandle()
{
    engine.reset(); // before the runner it refers to
}

Result<EngineHandle> open_engine(const config::TargetConfig& target)
{
    EngineHandle h;
    auto runner = open_runner(target);
    if (!runner) {
        return std::unexpected(runner.error());
    }
    h.runner = std::move(*runner);
    auto engine = std::visit(
        Overloaded{
            [&](const engine::PostgresOptions& o) {
                return engine::make_postgres_engine(target.name, target.url, o, *h.runner);
            },
            [&](const engine::RedisOptions& o) { return engine::make_redis_engine(target.name, o, *h.runner); },
            [&](const engine::SqliteOptions& o) { return engine::make_sqlite_engine(target.name, o, *h.runner); },
            [&](const engine::MysqlOptions& o) {
                return engine::make_mysql_engine(target.name, target.url, o, *h.runner);
            },
        },
        target.engine);
    if (!engine) {
        return std::unexpected(engine.error());
    }
    h.engine = std::move(*engine);
    return h;
}

} // namespace dbkeep::job
