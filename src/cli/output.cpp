#include "cli/output.hpp"

#include "cli/context.hpp"
#include "observe/log.hpp"

#include <cstdio>

namespace dbkeep::cli {

nlohmann::json error_json(const Error& error)
{
    return {{"kind", to_string(error.kind)},
            {"operation", observe::redact(error.operation)},
            {"object", observe::redact(error.object)},
            {"message", observe::redact(error.message)},
            {"hint", observe::redact(error.hint)}};
}

nlohmann::json failed_target_json(const std::string& target, const Error& error)
{
    return {{"target", target}, {"status", "failed"}, {"error", error_json(error)}};
}

void print_json(const nlohmann::json& document)
{
    // Strings from storage or peers may hold invalid UTF-8: replaced, never an exception.
    const std::string text = document.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fputc('\n', stdout);
}

void print_items(nlohmann::json items, const Context& ctx)
{
    for (const auto& e : ctx.target_errors()) {
        items.push_back(failed_target_json(e.target, e.error));
    }
    print_json(items);
}

void print_summary(const std::string& line)
{
    std::printf("%s\n", line.c_str());
}

std::int64_t elapsed_ms(std::chrono::steady_clock::time_point start)
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
}

} // namespace dbkeep::cli
