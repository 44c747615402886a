#include "cli/app.hpp"

#include <cstdio>

namespace dbkeep::cli {
int run(int, char**)
{
    std::puts("dbkeep " DBKEEP_VERSION);
    return k_exit_ok;
}
} // namespace dbkeep::cli
