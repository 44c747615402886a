// Issue 13 item 6: every hint names the fix for the cause actually observed, and no hint is shown for a cause
// it does not fit (a hint that does not match the cause is worse than none). Each classifier is fed the
// causes that share a status, an error kind or a word, and each must get its own hint or none.
#include "catalog/catalog.hpp"
#include "catalog/naming.hpp"
#include "engine/mysql/client.hpp"
#include "engine/mysql/mysql.hpp"
#include "engine/postgres/connection.hpp"
#include "engine/postgres/restore.hpp"
#include "engine/redis/resp.hpp"
#include "engine/redis/server.hpp"
#include "runner/docker/api.hpp"
#include "runner/ecs.hpp"
#include "runner/local.hpp"
#include "storage/local.hpp"
#include "storage/s3/client.hpp"
#include "storage/storage.hpp"
#include "support/fault_storage.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

using namespace dbkeep;

namespace {

bool has(const std::string& text, const std::string& part)
{
    return text.find(part) != std::string::npos;
}

std::string s3_hint(long status, const std::string& code, const std::string& operation = "upload object")
{
    return storage::s3::error_hint(status, code, operation, "backups", "configuration");
}

} // namespace

// The example: a bucket that does not exist was told to allow s3:PutObject.
TEST(Hints, S3NoSuchBucketNamesTheBucketNotAPermission)
{
    const std::string h = s3_hint(404, "NoSuchBucket");
    EXPECT_TRUE(has(h, "the bucket backups does not exist")) << h;
    EXPECT_FALSE(has(h, "s3:")) << h;
    EXPECT_EQ(s3_hint(404, "NoSuchKey", "read object"), "") << "a missing object is no fault";
    EXPECT_EQ(s3_hint(404, ""), "");
}

TEST(Hints, S3RefusalsAreToldApartByTheirCode)
{
    const std::string signature = s3_hint(403, "SignatureDoesNotMatch");
    EXPECT_TRUE(has(signature, "secret access key is wrong (credentials from configuration)")) << signature;

    const std::string key_id = s3_hint(403, "InvalidAccessKeyId");
    EXPECT_TRUE(has(key_id, "no such access key id")) << key_id;
    EXPECT_FALSE(has(key_id, "IAM")) << key_id;

    for (const char* code : {"ExpiredToken", "InvalidToken", "TokenRefreshRequired"}) {
        const std::string token = s3_hint(400, code);
        EXPECT_TRUE(has(token, "session token")) << code << ": " << token;
        EXPECT_FALSE(has(token, "IAM")) << code << ": " << token;
    }
    const std::string expired_403 = s3_hint(403, "ExpiredToken");
    EXPECT_TRUE(has(expired_403, "session token")) << expired_403;

    const std::string skew = s3_hint(403, "RequestTimeTooSkewed");
    EXPECT_TRUE(has(skew, "clock")) << skew;
    EXPECT_FALSE(has(skew, "IAM")) << skew;
}

// A server that keeps failing (5xx, or throttling) after every retry is named as such, not as a permission or
// a key; a 501 (a feature the store lacks) is not an outage.
TEST(Hints, S3ServerFailuresAfterEveryRetrySayTheServerFailed)
{
    for (long status : {500L, 502L, 503L, 504L}) {
        const std::string h = s3_hint(status, status == 500 ? "InternalError" : "");
        EXPECT_TRUE(has(h, "the storage server failed (HTTP " + std::to_string(status) + ")")) << h;
        EXPECT_FALSE(has(h, "IAM")) << h;
    }
    const std::string slow = s3_hint(503, "SlowDown");
    EXPECT_TRUE(has(slow, "slow down")) << slow;
    EXPECT_EQ(s3_hint(501, "NotImplemented"), "");
}

TEST(Hints, S3AccessDeniedNamesThePermissionTheRequestNeeds)
{
    EXPECT_TRUE(has(s3_hint(403, "AccessDenied", "upload part"), "s3:PutObject"));
    const std::string read = s3_hint(403, "AccessDenied", "read object");
    EXPECT_TRUE(has(read, "s3:GetObject")) << read;
    EXPECT_FALSE(has(read, "s3:PutObject")) << read;
    EXPECT_TRUE(has(s3_hint(403, "AccessDenied", "list objects"), "s3:ListBucket"));
    EXPECT_TRUE(has(s3_hint(403, "AccessDenied", "delete objects"), "s3:DeleteObject"));
    // A HEAD answer has no body, so no Code: a refusal still is one of permissions.
    EXPECT_TRUE(has(s3_hint(403, "", "stat object"), "s3:GetObject"));
    // Codes whose cause is not a policy get no IAM hint, nor does a server error.
    EXPECT_EQ(s3_hint(403, "AllAccessDisabled"), "");
    EXPECT_EQ(s3_hint(403, "InvalidObjectState", "read object"), "");
    EXPECT_FALSE(has(s3_hint(500, "InternalError"), "IAM"));
    EXPECT_EQ(s3_hint(400, "InvalidRequest"), "");
}

// The backend's permission remedy fitted any write failure: a timeout or a missing bucket got
// "allow s3:PutObject" (here the local store's "make ... writable").
TEST(Hints, StorageProbeGivesThePermissionRemedyForARefusalOnly)
{
    test::TempDir dir;
    auto local = storage::make_local_storage({.root = dir / "repo"});
    const storage::ProbeRemedies remedies{
        .write = "allow writing", .read = "allow reading", .list = "allow listing", .remove = "allow deleting"};
    auto write_finding = [&](ErrorKind kind) {
        test::FaultStorage faulty(*local);
        faulty.inject({.point = test::FaultPoint::open_writer, .pattern = "*", .nth = 0, .kind = kind});
        for (const auto& f : storage::probe_round_trip(faulty, "t/", remedies)) {
            if (f.probe == "storage.write") {
                return f;
            }
        }
        return Finding{};
    };
    const Finding timeout = write_finding(ErrorKind::transient);
    EXPECT_EQ(timeout.outcome, Outcome::fail);
    EXPECT_EQ(timeout.remedy, "") << "a timeout is no permission problem";
    const Finding missing = write_finding(ErrorKind::not_found);
    EXPECT_EQ(missing.outcome, Outcome::fail);
    EXPECT_EQ(missing.remedy, "");
    const Finding refused = write_finding(ErrorKind::auth);
    EXPECT_EQ(refused.outcome, Outcome::fail);
    EXPECT_EQ(refused.remedy, "allow writing");
}

TEST(Hints, PostgresConnectErrorsGetTheHintOfTheirCause)
{
    using engine::pg::classify_connect_error;
    auto password = classify_connect_error("connection to server at \"db\" (10.0.0.5), port 5432 failed: FATAL:  "
                                           "password authentication failed for user \"backup\"");
    EXPECT_EQ(password.first, ErrorKind::auth);
    EXPECT_TRUE(has(password.second, "password")) << password.second;
    EXPECT_TRUE(has(classify_connect_error("fe_sendauth: no password supplied").second, "password"));

    auto peer = classify_connect_error(
        "connection to server on socket \"/var/run/postgresql/.s.PGSQL.5432\" failed: FATAL:  Peer "
        "authentication failed for user \"backup\"");
    EXPECT_EQ(peer.first, ErrorKind::auth);
    EXPECT_TRUE(has(peer.second, "peer/ident")) << peer.second;
    EXPECT_FALSE(has(peer.second, "password (or PGPASSWORD")) << "peer asks no password: " << peer.second;

    auto hba = classify_connect_error("connection to server at \"db\", port 5432 failed: FATAL:  no pg_hba.conf "
                                      "entry for host \"10.0.0.9\", user \"backup\", database \"app\", no encryption");
    EXPECT_EQ(hba.first, ErrorKind::auth);
    EXPECT_TRUE(has(hba.second, "pg_hba.conf")) << hba.second;

    auto gss = classify_connect_error("FATAL:  GSSAPI authentication failed for user \"backup\"");
    EXPECT_EQ(gss.first, ErrorKind::auth);
    EXPECT_EQ(gss.second, "") << "the password is not what GSSAPI checks";

    // What the url names and the server lacks: the role, or the database; not the password or the network.
    auto role = classify_connect_error("connection to server at \"db\", port 5432 failed: FATAL:  role \"bakup\" "
                                       "does not exist");
    EXPECT_EQ(role.first, ErrorKind::not_found);
    EXPECT_TRUE(has(role.second, "no role of the url's user name")) << role.second;
    auto database = classify_connect_error("connection to server at \"db\", port 5432 failed: FATAL:  database "
                                           "\"ap\" does not exist");
    EXPECT_EQ(database.first, ErrorKind::not_found);
    EXPECT_TRUE(has(database.second, "no database of that name")) << database.second;
    EXPECT_FALSE(has(database.second, "role")) << database.second;

    auto dns =
        classify_connect_error("could not translate host name \"db.internl\" to address: Name or service not known");
    EXPECT_EQ(dns.first, ErrorKind::transient);
    EXPECT_TRUE(has(dns.second, "host name")) << dns.second;
    EXPECT_FALSE(has(dns.second, "server running")) << dns.second;

    auto socket = classify_connect_error("connection to server on socket \"/tmp/.s.PGSQL.5432\" failed: No such "
                                         "file or directory\n\tIs the server running locally and accepting "
                                         "connections on that socket?");
    EXPECT_EQ(socket.first, ErrorKind::transient);
    EXPECT_TRUE(has(socket.second, "socket")) << socket.second;

    auto refused = classify_connect_error("connection to server at \"127.0.0.1\", port 1 failed: Connection refused");
    EXPECT_EQ(refused.first, ErrorKind::transient);
    EXPECT_TRUE(has(refused.second, "is the server running")) << refused.second;
    EXPECT_TRUE(has(classify_connect_error("connection to server at \"db\", port 5432 failed: timeout expired").second,
                    "is the server running"));

    // A missing certificate file is not a server that is down; a psql that is not installed neither.
    auto cert = classify_connect_error("could not open certificate file \"/root/.postgresql/postgresql.crt\": No "
                                       "such file or directory");
    EXPECT_EQ(cert.second, "");
    EXPECT_NE(cert.first, ErrorKind::transient);
    EXPECT_EQ(classify_connect_error("sh: exec: psql: No such file or directory").second, "");

    auto db = classify_connect_error("FATAL:  database \"nope\" does not exist");
    EXPECT_EQ(db.first, ErrorKind::not_found);
    EXPECT_TRUE(has(db.second, "no database of that name")) << db.second;
}

TEST(Hints, MysqlToolErrorsGetTheHintOfTheirCause)
{
    using engine::mysql::tool_error;
    const runner::ExitStatus st{1, 0};
    auto err = [&](const std::string& stderr_text) { return tool_error("run", "shop", "mariadb", st, stderr_text); };

    auto dns = err("ERROR 2005 (HY000): Unknown MySQL server host 'db.internl' (-2)\n");
    EXPECT_EQ(dns.kind, ErrorKind::transient);
    EXPECT_TRUE(has(dns.hint, "host name")) << dns.hint;
    EXPECT_FALSE(has(dns.hint, "server runs")) << dns.hint;

    auto refused = err("ERROR 2003 (HY000): Can't connect to MySQL server on '127.0.0.1:1' (111)\n");
    EXPECT_EQ(refused.kind, ErrorKind::transient);
    EXPECT_TRUE(has(refused.hint, "server runs")) << refused.hint;

    auto password = err("ERROR 1045 (28000): Access denied for user 'app'@'localhost' (using password: YES)\n");
    EXPECT_EQ(password.kind, ErrorKind::auth);
    EXPECT_TRUE(has(password.hint, "password")) << password.hint;

    auto grant = err("ERROR 1044 (42000): Access denied for user 'app'@'%' to database 'shop'\n");
    EXPECT_EQ(grant.kind, ErrorKind::auth);
    EXPECT_TRUE(has(grant.hint, "grant")) << grant.hint;

    EXPECT_EQ(err("mariadb-dump: Got error: 1049: \"Unknown database 'x'\"\n").hint, "check the database name");

    // An error number inside a name or a count is no error code: the database name is not the cause here.
    auto table = err("ERROR 1146 (42S02) at line 3: Table 'shop.orders_1049' doesn't exist\n");
    EXPECT_EQ(table.kind, ErrorKind::failed);
    EXPECT_EQ(table.hint, "");
    auto rows = err("ERROR 1062 (23000) at line 9: Duplicate entry '2002' for key 'PRIMARY'\n");
    EXPECT_EQ(rows.kind, ErrorKind::failed) << "not a connection failure";
    EXPECT_EQ(rows.hint, "");

    auto lock = err("ERROR 1205 (HY000) at line 40: Lock wait timeout exceeded; try restarting transaction\n");
    EXPECT_EQ(lock.kind, ErrorKind::conflict);
    EXPECT_TRUE(has(lock.hint, "raise lock_wait_timeout")) << lock.hint;
    EXPECT_TRUE(has(lock.hint, "holds the lock")) << lock.hint;
}

// A --to URL of another engine is refused with the form a MySQL URL takes, and the password stays out of it.
TEST(Hints, MysqlDestinationUrlOfAnotherEngineShowsTheMysqlForm)
{
    auto e = engine::mysql::parse_endpoint("postgres://app:secret-pw@db:5432/shop", "");
    ASSERT_FALSE(e.has_value());
    EXPECT_EQ(e.error().kind, ErrorKind::config);
    EXPECT_TRUE(has(e.error().hint, "give mysql://user@host:3306/database")) << e.error().hint;
    EXPECT_FALSE(has(e.error().to_string(), "secret-pw")) << e.error().to_string();
}

// A target of the API without a database (the configuration loader refuses it before, with the same forms).
TEST(Hints, MysqlTargetWithoutADatabaseShowsWhereToNameIt)
{
    auto runner = runner::make_local_runner();
    auto e = engine::make_mysql_engine("shop", "mysql://app@db:3306", engine::MysqlOptions{}, *runner);
    ASSERT_FALSE(e.has_value());
    EXPECT_EQ(e.error().kind, ErrorKind::config);
    EXPECT_TRUE(has(e.error().hint, "give the database in the url (mysql://user@host:3306/db)")) << e.error().hint;
}

// Our own RESP connection: a host name that does not resolve and a port nobody listens on get different remedies.
TEST(Hints, RedisConnectFailuresNameTheirCause)
{
    engine::resp::ConnectOptions dns;
    dns.host = "cache.dbkeep-test.invalid"; // .invalid never resolves (RFC 2606)
    dns.port = 6379;
    auto unresolved = engine::resp::Connection::connect(dns);
    ASSERT_FALSE(unresolved.has_value());
    EXPECT_EQ(unresolved.error().kind, ErrorKind::transient);
    EXPECT_TRUE(has(unresolved.error().hint, "does not resolve here")) << unresolved.error().to_string();

    engine::resp::ConnectOptions closed;
    closed.host = "127.0.0.1";
    const test::ClosedPort nobody;
    closed.port = nobody.port();
    auto refused = engine::resp::Connection::connect(closed);
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error().kind, ErrorKind::transient);
    EXPECT_TRUE(has(refused.error().hint, "redis listens there")) << refused.error().to_string();
    EXPECT_FALSE(has(refused.error().hint, "resolve")) << refused.error().hint;
}

TEST(Hints, RedisCliErrorsGetTheHintOfTheirCause)
{
    using engine::redis::cli_error;
    const runner::ExitStatus st{1, 0};
    auto dns = cli_error("Could not connect to Redis at cache.internl:6379: Name or service not known\n", st,
                         "cache.internl:6379", "ping");
    EXPECT_EQ(dns.kind, ErrorKind::transient);
    EXPECT_TRUE(has(dns.hint, "host name")) << dns.hint;
    EXPECT_FALSE(has(dns.hint, "is redis running")) << dns.hint;

    auto refused = cli_error("Could not connect to Redis at 127.0.0.1:1: Connection refused\n", st, "x", "ping");
    EXPECT_TRUE(has(refused.hint, "is redis running")) << refused.hint;

    auto wrong =
        cli_error("AUTH failed: WRONGPASS invalid username-password pair or user is disabled.\n", st, "x", "ping");
    EXPECT_EQ(wrong.kind, ErrorKind::auth);
    EXPECT_TRUE(has(wrong.hint, "username and password")) << wrong.hint;

    auto none = cli_error("NOAUTH Authentication required.\n", st, "x", "ping");
    EXPECT_EQ(none.kind, ErrorKind::auth);
    EXPECT_TRUE(has(none.hint, "requires a password")) << none.hint;

    auto missing = cli_error("sh: 1: redis-cli: not found\n", runner::ExitStatus{127, 0}, "x", "ping");
    EXPECT_EQ(missing.kind, ErrorKind::not_found);
    EXPECT_TRUE(has(missing.hint, "install redis-cli")) << missing.hint;
}

TEST(Hints, PostgresRestoreRemedyFitsTheCauseOnly)
{
    using engine::pg::restore_remedy;
    EXPECT_TRUE(has(restore_remedy("pg_restore: error: could not execute query: ERROR:  role \"app_reader\" does "
                                   "not exist"),
                    "--no-owner"));
    EXPECT_TRUE(has(restore_remedy("ERROR:  invalid locale name: \"de_DE.utf8\""), "locale -a"));
    EXPECT_TRUE(has(restore_remedy("ERROR:  new encoding (UTF8) is incompatible with the encoding of the template "
                                   "database (SQL_ASCII)"),
                    "locale -a"));
    EXPECT_TRUE(has(restore_remedy("ERROR:  permission denied to create database"), "CREATEDB"));
    EXPECT_TRUE(has(restore_remedy("ERROR:  out of shared memory HINT:  You might need to increase "
                                   "max_locks_per_transaction."),
                    "--jobs 2"));
    // Data that is not valid in the server's encoding is no locale the server lacks.
    EXPECT_EQ(restore_remedy("pg_restore: error: COPY failed for table \"notes\": ERROR:  invalid byte sequence for "
                             "encoding \"UTF8\": 0x00"),
              "");
    // A schema the role may not write is not fixed by CREATEDB.
    EXPECT_EQ(restore_remedy("pg_restore: error: could not execute query: ERROR:  permission denied for schema "
                             "public"),
              "");
}

// `restore --at yesterday` was told "no backup with id yesterday (run `dbkeep list` to see the ids)".
TEST(Hints, AnAtTimeThatDoesNotParseSaysSoAndShowsTheForm)
{
    const auto now = std::chrono::system_clock::now();
    catalog::Listing listing;
    catalog::Manifest m;
    m.id = catalog::make_backup_id(now - std::chrono::hours(24), "0000a1");
    m.target = "orders";
    listing.backups.push_back(m);

    auto word = catalog::select_backup(listing, "orders", "yesterday", now);
    ASSERT_FALSE(word);
    EXPECT_EQ(word.error().kind, ErrorKind::not_found);
    EXPECT_TRUE(has(word.error().message, "neither a backup id nor an RFC 3339 time")) << word.error().to_string();
    EXPECT_TRUE(has(word.error().hint, "--at")) << word.error().hint;
    EXPECT_TRUE(has(word.error().hint, "2026-11-25T10:00:00Z")) << word.error().hint;

    // An id of the right shape that is not there keeps the list hint.
    auto id = catalog::select_backup(listing, "orders", "20200101T000000Z-ffffff", now);
    ASSERT_FALSE(id);
    EXPECT_EQ(id.error().message, "no backup with id 20200101T000000Z-ffffff");
    EXPECT_EQ(id.error().hint, "run `dbkeep list orders` to see the ids");
}

// `dbkeep show app nope` was told to "give --at a time ... or --backup an id": options of restore, not of show,
// whose argument is the id. Show's hints name its argument and `dbkeep list`, as for a missing id.
TEST(Hints, ShowsMissingIdSuggestsListAndNoOptionsOfOtherCommands)
{
    const auto now = std::chrono::system_clock::now();
    catalog::Listing listing;
    catalog::Manifest m;
    m.id = catalog::make_backup_id(now - std::chrono::hours(24), "0000a1");
    m.target = "orders";
    listing.backups.push_back(m);
    const catalog::SelectorSyntax show_syntax{.command = "show", .id_option = "", .time_option = ""};
    auto no_option = [](const Error& e) {
        const std::string text = e.to_string();
        return !has(text, "--at") && !has(text, "--backup");
    };

    auto word = catalog::select_backup(listing, "orders", "nope", now, show_syntax);
    ASSERT_FALSE(word);
    EXPECT_EQ(word.error().kind, ErrorKind::not_found);
    EXPECT_EQ(word.error().message, "no backup with id nope");
    EXPECT_TRUE(has(word.error().hint, "run `dbkeep list orders` to see the ids")) << word.error().hint;
    EXPECT_TRUE(no_option(word.error())) << word.error().to_string();

    auto id = catalog::select_backup(listing, "orders", "20200101T000000Z-ffffff", now, show_syntax);
    ASSERT_FALSE(id);
    EXPECT_EQ(id.error().to_string(), "find backup of orders: no backup with id 20200101T000000Z-ffffff (run "
                                      "`dbkeep list orders` to see the ids)");

    auto before = catalog::select_backup(listing, "orders", "2000-01-01T00:00:00Z", now, show_syntax);
    ASSERT_FALSE(before);
    EXPECT_TRUE(has(before.error().hint, "`dbkeep show orders " + m.id + "`")) << before.error().hint;
    EXPECT_TRUE(no_option(before.error())) << before.error().to_string();

    catalog::Listing ahead;
    catalog::Manifest future = m;
    future.id = catalog::make_backup_id(now + std::chrono::hours(24 * 365), "0000a2");
    ahead.backups.push_back(future);
    auto latest = catalog::select_backup(ahead, "orders", "latest", now, show_syntax);
    ASSERT_FALSE(latest);
    EXPECT_TRUE(has(latest.error().hint, "to show one anyway, name it: `dbkeep show orders " + future.id + "`"))
        << latest.error().hint;
    EXPECT_TRUE(no_option(latest.error())) << latest.error().to_string();

    // verify has --backup for both, and no --at.
    const catalog::SelectorSyntax verify_syntax{
        .command = "verify", .id_option = "--backup", .time_option = "--backup"};
    auto v = catalog::select_backup(listing, "orders", "nope", now, verify_syntax);
    ASSERT_FALSE(v);
    EXPECT_FALSE(has(v.error().to_string(), "--at")) << v.error().to_string();
    EXPECT_TRUE(has(v.error().hint, "give --backup an id `dbkeep list orders` shows, or a time such as"))
        << v.error().hint;
}

// Docker answers an exec into a container that is not running with 409 whatever its state: a paused
// container was told to `docker start`, which does not unpause it.
TEST(Hints, DockerExecConflictNamesTheContainersState)
{
    using runner::docker::exec_conflict_hint;
    EXPECT_EQ(exec_conflict_hint("Container 4f2a is not running", "db"), "start the container (docker start db)");
    const std::string paused = exec_conflict_hint("Container 4f2a is paused, unpause the container before exec", "db");
    EXPECT_TRUE(has(paused, "docker unpause db")) << paused;
    EXPECT_FALSE(has(paused, "docker start")) << paused;
    const std::string restarting =
        exec_conflict_hint("Container 4f2a is restarting, wait until the container is running", "db");
    EXPECT_TRUE(has(restarting, "docker logs db")) << restarting;
    EXPECT_FALSE(has(restarting, "docker start")) << restarting;
    EXPECT_EQ(exec_conflict_hint("HTTP 409: conflict", "db"), "");
}

// A command the ACL refuses (NOPERM) was told to check the password, which is right.
TEST(Hints, RedisErrorRepliesGetTheHintOfTheirCause)
{
    using engine::redis::error_reply;
    auto reply = [](const std::string& text) {
        engine::resp::Reply r;
        r.type = engine::resp::Reply::Type::error;
        r.text = text;
        return r;
    };
    auto noperm = error_reply(reply("NOPERM User backup has no permissions to run the 'info' command"), "info", "x");
    ASSERT_FALSE(noperm);
    EXPECT_EQ(noperm.error().kind, ErrorKind::auth);
    EXPECT_TRUE(has(noperm.error().hint, "ACL SETUSER")) << noperm.error().hint;
    EXPECT_FALSE(has(noperm.error().hint, "password")) << noperm.error().hint;
    auto noauth = error_reply(reply("NOAUTH Authentication required."), "info", "x");
    EXPECT_TRUE(has(noauth.error().hint, "requires a password")) << noauth.error().hint;
    auto wrong = error_reply(reply("WRONGPASS invalid username-password pair or user is disabled."), "auth", "x");
    EXPECT_TRUE(has(wrong.error().hint, "username and password")) << wrong.error().hint;
    EXPECT_EQ(error_reply(reply("ERR unknown command 'FOO'"), "foo", "x").error().hint, "");
}

// Every failed `aws ecs` call was told to check names, region and ecs:ListTasks, also when the CLI had no
// credentials at all.
TEST(Hints, EcsCliFailuresGetTheHintOfTheirCause)
{
    using runner::ecs_cli_hint;
    const std::string none = ecs_cli_hint("Unable to locate credentials. You can configure credentials by running "
                                          "\"aws configure\".");
    EXPECT_TRUE(has(none, "credentials")) << none;
    EXPECT_FALSE(has(none, "ecs:ListTasks")) << none;
    const std::string denied = ecs_cli_hint("An error occurred (AccessDeniedException) when calling the ListTasks "
                                            "operation: User: arn:aws:iam::1:user/x is not authorized to perform: "
                                            "ecs:ListTasks");
    EXPECT_TRUE(has(denied, "ecs:ListTasks")) << denied;
    const std::string cluster = ecs_cli_hint(
        "An error occurred (ClusterNotFoundException) when calling the ListTasks operation: Cluster not found.");
    EXPECT_TRUE(has(cluster, "cluster name and region")) << cluster;
    EXPECT_FALSE(has(cluster, "ecs:ListTasks")) << cluster;
    const std::string expired = ecs_cli_hint("An error occurred (ExpiredTokenException) when calling the ListTasks "
                                             "operation: The security token included in the request is expired");
    EXPECT_TRUE(has(expired, "session token has expired")) << expired;
}
