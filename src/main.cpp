#include "cli/app.hpp"

int main(int argc, char** argv)
{
    return dbkeep::cli::run(argc, argv);
}
