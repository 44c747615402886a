#include "cli/app.hpp"
#include "cli/context.hpp"
#include "cli/output.hpp"
#include "stream/age/age.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>

namespace dbkeep::cli {

void add_keygen_command(CLI::App& app, Context& ctx, int& exit_code)
{
    auto* cmd = app.add_subcommand("keygen", "write a new age identity (mode 0600) and print its recipient");
    auto output = std::make_shared<std::string>();
    cmd->add_option("-o,--output", *output, "identity file to create (refuses to overwrite)")->required();
    cmd->callback([&ctx, &exit_code, output] {
        auto recipient = stream::write_new_identity(*output);
        if (!recipient) {
            exit_code = report(recipient.error());
            return;
        }
        if (ctx.json) {
            print_json({{"recipient", *recipient}, {"identity_file", *output}});
            return;
        }
        std::fprintf(stderr, "Public key: %s\n", recipient->c_str());
        std::printf("%s\n", recipient->c_str());
    });
}

} // namespace dbkeep::cli
