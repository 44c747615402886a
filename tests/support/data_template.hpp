// A database server's initial data folder, made once per machine and copied for each test's server.
//
// initdb (about 1.5 s) and mariadb-install-db (about 2.5 s) run for every test that starts a server; a copy
// of the folder they made takes a tenth of that. The template is made by the first test that needs it, under
// an exclusive flock(2) so that tests running beside it wait for it rather than make their own, and published
// by rename(2) so that a test killed while making it leaves no half template: the next one starts over.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

namespace dbkeep::test {

// Copies the template named `key` (a file name: letters, digits, '-', '.') to `dest`, which must not exist,
// with owners and modes (cp -a; the caller is root when the files belong to a server's user). When the
// template does not exist yet, make(folder) is called first with an empty folder to fill: it must create
// folder/data, which is what is copied. Templates live in $TMPDIR/dbkeep-test-templates-UID; the key must
// name everything the folder depends on (server version, options). Throws std::runtime_error when making or
// copying fails; thread-safe and safe across processes.
void copy_data_template(const std::string& key, const std::filesystem::path& dest,
                        const std::function<void(const std::filesystem::path&)>& make);

// A short key part naming a program's version by its size and modification time (a server upgrade makes a
// new template).
std::string program_stamp(const std::filesystem::path& program);

} // namespace dbkeep::test
