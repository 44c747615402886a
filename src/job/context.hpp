// The jobs' context for errors: "back up orders: " + the inner error, named once.
#pragma once

#include "core/error.hpp"

#include <string>
#include <string_view>

namespace dbkeep::job {

// wrap(inner, context), except for an error that already begins with that context: its operation and object
// read "back up orders", or "back up orders: ...". An engine's fail("back up", "orders", ...) wrapped by the
// job's "back up orders" once read "back up orders: back up orders: ...". Another context that merely begins
// the same ("back up orders2") is still prepended.
inline std::unexpected<Error> wrap_once(Error inner, std::string_view context)
{
    const std::string head = inner.object.empty() ? inner.operation : inner.operation + " " + inner.object;
    const bool named =
        !context.empty() && head.starts_with(context) &&
        (head.size() == context.size() || std::string_view(head).substr(context.size()).starts_with(": "));
    if (named) {
        return std::unexpected(std::move(inner));
    }
    return wrap(std::move(inner), context);
}

} // namespace dbkeep::job
