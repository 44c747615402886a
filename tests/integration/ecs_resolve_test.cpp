// The ecs runner's `service:` / `family:`: the running task is found with the AWS CLI (`aws ecs list-tasks`,
// `describe-tasks`, SigV4-signed by the CLI) against a loopback stand-in of the ECS JSON API that checks each
// request's shape (target header, content type, signature scope, JSON body) and answers per scenario.
#include "runner/ecs.hpp"
#include "support/http_stand_in.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "support/workspace.hpp"

#include <cstdlib>
#include <fstream>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sstream>

using namespace dbkeep;
using namespace dbkeep::test;

namespace {

constexpr const char* k_ecs_api = R"PY(
import http.server, json, os, sys
HERE = os.path.dirname(os.path.abspath(__file__))
A = 'arn:aws:ecs:eu-west-1:1:task/prod/'
def task(i, status='RUNNING', started=None, container='postgres'):
    t = {'taskArn': A + i, 'lastStatus': status, 'containers': [{'name': container}]}
    if started is not None: t['startedAt'] = started
    return t
SCENARIOS = {
  'one': ([A + 'aaa'], {'tasks': [task('aaa', started=1700000000.5)], 'failures': []}),
  'several': ([A + 'old', A + 'new', A + 'boot'], {'tasks': [task('old', started=1700000000), task('new', started=1700000500), task('boot', 'PROVISIONING')]}),
  'tie': ([A + 'b1', A + 'b2'], {'tasks': [task('b1', started=1700000000), task('b2', started=1700000000)]}),
  'none': ([], None),
  'pending': ([A + 'p'], {'tasks': [task('p', 'PENDING')]}),
  'other_container': ([A + 'x'], {'tasks': [task('x', started=1, container='sidecar')]}),
  'bad_list': ([5], None),
  'bad_describe': ([A + 'aaa'], {'tasks': [{'lastStatus': 5}]}),
  'describe_not_list': ([A + 'aaa'], {'failures': []}),
  'describe_not_objects': ([A + 'aaa'], {'tasks': [None]}),
  'many': ([A + 't%d' % i for i in range(101)], None),
}
class H(http.server.BaseHTTPRequestHandler):
    def reply(self, code, body):
        data = body.encode()
        self.send_response(code); self.send_header('Content-Type', 'application/x-amz-json-1.1')
        self.send_header('Content-Length', str(len(data))); self.end_headers(); self.wfile.write(data)
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', '0')))
        scenario = open(os.path.join(HERE, 'scenario')).read().strip()
        target = self.headers.get('X-Amz-Target', '')
        auth = self.headers.get('Authorization', '')
        with open(os.path.join(HERE, 'requests.log'), 'a') as log:
            log.write(json.dumps({'target': target, 'body': body.decode(), 'auth_ok': auth.startswith('AWS4-HMAC-SHA256 Credential=ECSTESTKEY/') and '/eu-west-1/ecs/aws4_request' in auth}) + '\n')
        if not self.headers.get('Content-Type', '').startswith('application/x-amz-json-1.1') or self.path != '/':
            return self.reply(400, '{"__type":"SerializationException","message":"bad request shape"}')
        if scenario == 'denied':
            return self.reply(400, '{"__type":"AccessDeniedException","message":"User is not authorized to perform: ecs:ListTasks"}')
        if scenario == 'garbage':
            return self.reply(200, '<html>not ecs</html>')
        req = json.loads(body)
        listed, described = SCENARIOS[scenario]
        if target == 'AmazonEC2ContainerServiceV20141113.ListTasks':
            if req.get('cluster') != 'prod' or req.get('desiredStatus') != 'RUNNING':
                return self.reply(400, '{"__type":"InvalidParameterException","message":"unexpected ListTasks body"}')
            return self.reply(200, json.dumps({'taskArns': listed}))
        if target == 'AmazonEC2ContainerServiceV20141113.DescribeTasks':
            if req.get('cluster') != 'prod' or req.get('tasks') != listed:
                return self.reply(400, '{"__type":"InvalidParameterException","message":"unexpected DescribeTasks body"}')
            return self.reply(200, json.dumps(described))
        self.reply(400, '{"__type":"UnknownOperationException"}')
    def log_message(self, *a): pass
http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
)PY";

class EcsResolve : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (auto reason = HttpStandIn::skip_reason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        if (!have_program("aws")) {
            GTEST_SKIP() << "the AWS CLI is not installed";
        }
        for (const char* v : {"AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                              "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
                              "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_ECS"}) {
            unsetenv(v);
        }
        setenv("AWS_ACCESS_KEY_ID", "ECSTESTKEY", 1);
        setenv("AWS_SECRET_ACCESS_KEY", "ecs-test-secret", 1);
        setenv("AWS_CONFIG_FILE", (m_dir.path() / "no-config").c_str(), 1);
        setenv("AWS_SHARED_CREDENTIALS_FILE", (m_dir.path() / "no-credentials").c_str(), 1);
        setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
        scenario("one");
        m_server = std::make_unique<HttpStandIn>(m_dir.path(), "ecs_api.py", k_ecs_api);
        m_options.cluster = "prod";
        m_options.service = "web";
        m_options.container = "postgres";
        m_options.region = "eu-west-1";
        m_options.endpoint = m_server->url();
        m_options.shared_dir = m_dir.path().string();
    }

    void scenario(const std::string& name) const { std::ofstream(m_dir.path() / "scenario") << name << "\n"; }

    std::vector<nlohmann::json> requests() const
    {
        std::vector<nlohmann::json> out;
        std::ifstream in(m_dir.path() / "requests.log");
        for (std::string line; std::getline(in, line);) {
            out.push_back(nlohmann::json::parse(line));
        }
        return out;
    }

    std::string error_of(const std::string& name)
    {
        scenario(name);
        auto r = runner::resolve_ecs_task(m_options);
        EXPECT_FALSE(r) << "resolved " << (r ? *r : "");
        return r ? "" : r.error().to_string();
    }

    TempDir m_dir;
    std::unique_ptr<HttpStandIn> m_server;
    runner::EcsOptions m_options;
};

constexpr const char* k_arn = "arn:aws:ecs:eu-west-1:1:task/prod/";

TEST_F(EcsResolve, AServiceResolvesToItsRunningTaskWithSignedEcsJsonRequests)
{
    auto task = runner::resolve_ecs_task(m_options);
    ASSERT_TRUE(task) << task.error().message;
    EXPECT_EQ(*task, std::string(k_arn) + "aaa");
    auto reqs = requests();
    ASSERT_EQ(reqs.size(), 2u);
    EXPECT_EQ(reqs[0]["target"], "AmazonEC2ContainerServiceV20141113.ListTasks");
    auto list = nlohmann::json::parse(reqs[0]["body"].get<std::string>());
    EXPECT_EQ(list["serviceName"], "web");
    EXPECT_EQ(list["desiredStatus"], "RUNNING");
    EXPECT_FALSE(list.contains("family"));
    EXPECT_EQ(reqs[1]["target"], "AmazonEC2ContainerServiceV20141113.DescribeTasks");
    EXPECT_TRUE(reqs[0]["auth_ok"].get<bool>()) << "not SigV4-signed for ecs in eu-west-1";
    EXPECT_TRUE(reqs[1]["auth_ok"].get<bool>());
}

TEST_F(EcsResolve, AFamilyIsListedByFamily)
{
    m_options.service.clear();
    m_options.family = "pg";
    auto task = runner::resolve_ecs_task(m_options);
    ASSERT_TRUE(task) << task.error().message;
    auto list = nlohmann::json::parse(requests().at(0)["body"].get<std::string>());
    EXPECT_EQ(list["family"], "pg");
    EXPECT_FALSE(list.contains("serviceName"));
}

TEST_F(EcsResolve, AFixedTaskIsUsedAsIsWithoutAsking)
{
    m_options.service.clear();
    m_options.task = "0123abcd";
    auto task = runner::resolve_ecs_task(m_options);
    ASSERT_TRUE(task) << task.error().message;
    EXPECT_EQ(*task, "0123abcd");
    EXPECT_TRUE(requests().empty());
}

TEST_F(EcsResolve, OfSeveralRunningTasksTheNewestIsChosen)
{
    scenario("several");
    auto task = runner::resolve_ecs_task(m_options);
    ASSERT_TRUE(task) << task.error().message;
    EXPECT_EQ(*task, std::string(k_arn) + "new");
    scenario("tie"); // same start time: the greatest ARN, whatever the order of the answer
    task = runner::resolve_ecs_task(m_options);
    ASSERT_TRUE(task) << task.error().message;
    EXPECT_EQ(*task, std::string(k_arn) + "b2");
}

TEST_F(EcsResolve, NoneRunningNamesTheClusterAndService)
{
    const auto e = error_of("none");
    EXPECT_NE(e.find("service prod/web"), std::string::npos) << e;
    EXPECT_NE(e.find("no task of it is running"), std::string::npos) << e;
    const auto p = error_of("pending");
    EXPECT_NE(p.find("no task of it is RUNNING (1 still starting or stopping)"), std::string::npos) << p;
    const auto o = error_of("other_container");
    EXPECT_NE(o.find("without a container named 'postgres'"), std::string::npos) << o;
}

TEST_F(EcsResolve, MalformedAnswersAreClearErrors)
{
    const auto l = error_of("bad_list");
    EXPECT_NE(l.find("ListTasks answer has no list of task ARNs"), std::string::npos) << l;
    const auto b = error_of("bad_describe");
    EXPECT_NE(b.find("lacks taskArn or lastStatus"), std::string::npos) << b;
    const auto n = error_of("describe_not_list");
    EXPECT_NE(n.find("DescribeTasks answer has no list of tasks"), std::string::npos) << n;
    const auto g = error_of("garbage"); // the CLI prints nothing for an answer it cannot parse
    EXPECT_NE(g.find("aws ecs list-tasks gave no JSON object"), std::string::npos) << g;
    const auto d = error_of("denied");
    EXPECT_NE(d.find("not authorized"), std::string::npos) << d;
    EXPECT_NE(d.find("ecs:ListTasks and ecs:DescribeTasks"), std::string::npos) << d;
}

// Each answer that ECS never gives sends the user to the endpoint setting (these come from something else).
TEST_F(EcsResolve, AnswersThatAreNotEcsPointAtTheEndpoint)
{
    for (const char* name : {"bad_list", "bad_describe", "describe_not_list", "describe_not_objects", "garbage"}) {
        const auto e = error_of(name);
        EXPECT_NE(e.find("points at ECS"), std::string::npos) << name << ": " << e;
    }
    const auto o = error_of("describe_not_objects");
    EXPECT_NE(o.find("a task in the DescribeTasks answer is not an object"), std::string::npos) << o;
}

// No task to run in: the hint says what to change for each cause (nothing running, still starting, a task
// without the database's container, far too many tasks for one database).
TEST_F(EcsResolve, EachReasonForNoTaskHasItsOwnRemedy)
{
    const auto none = error_of("none");
    EXPECT_NE(none.find("start the service (desired count at least 1)"), std::string::npos) << none;
    const auto pending = error_of("pending");
    EXPECT_NE(pending.find("retry once the task is RUNNING"), std::string::npos) << pending;
    const auto other = error_of("other_container");
    EXPECT_NE(other.find("check the runner's container name"), std::string::npos) << other;
    scenario("many");
    auto many = runner::resolve_ecs_task(m_options);
    ASSERT_FALSE(many);
    EXPECT_EQ(many.error().kind, ErrorKind::config);
    EXPECT_NE(many.error().message.find("101 tasks run"), std::string::npos) << many.error().to_string();
    EXPECT_NE(many.error().hint.find("name the database's own service or family"), std::string::npos)
        << many.error().hint;
}

TEST_F(EcsResolve, TheRunnerResolvesBeforeLaunchingAndReportsNoneRunning)
{
    scenario("none");
    auto r = runner::make_ecs_runner(m_options);
    EXPECT_EQ(r->describe(), "ecs service prod/web container postgres");
    auto p = r->start({.argv = {"true"}});
    ASSERT_FALSE(p);
    EXPECT_NE(p.error().message.find("no task of it is running"), std::string::npos) << p.error().message;
    EXPECT_EQ(requests().size(), 1u); // ListTasks only: the launcher never ran
}

TEST_F(EcsResolve, ABackupThroughAServiceWithNoRunningTaskSaysSo)
{
    scenario("none");
    Workspace work("dbkeep-ecs-resolve");
    work.write_config(work.local_storage_yaml() +
                      "targets:\n  app:\n    engine: postgres\n    url: postgres://postgres@127.0.0.1:1/app\n"
                      "    runner: { type: ecs, cluster: prod, service: web, container: postgres, region: eu-west-1, "
                      "endpoint: '" +
                      m_server->url() + "', shared_dir: " + m_dir.path().string() + " }\n");
    auto r = work.dbkeep({"backup", "app"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("service prod/web"), std::string::npos) << r.out << r.err;
    EXPECT_NE(r.err.find("no task of it is running"), std::string::npos) << r.out << r.err;
    EXPECT_TRUE(work.manifests().empty());
}

// Nothing to look the task up by: a config error before any call.
TEST(EcsResolveConfig, NoServiceFamilyOrTaskSaysWhichToSet)
{
    runner::EcsOptions o;
    o.cluster = "prod";
    o.container = "postgres";
    auto r = runner::resolve_ecs_task(o);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::config);
    EXPECT_NE(r.error().hint.find("set the runner's service (or family, or task)"), std::string::npos)
        << r.error().hint;
}

// Where the AWS CLI is not installed, the lookup says to install it (ECS Exec needs it too).
TEST(EcsResolveConfig, NoAwsCliHereSaysToInstallIt)
{
    TempDir empty;
    const char* path = std::getenv("PATH");
    const std::string saved = path != nullptr ? path : "";
    setenv("PATH", empty.path().c_str(), 1);
    runner::EcsOptions o;
    o.cluster = "prod";
    o.service = "web";
    o.container = "postgres";
    auto r = runner::resolve_ecs_task(o);
    setenv("PATH", saved.c_str(), 1);
    ASSERT_FALSE(r) << *r;
    EXPECT_EQ(r.error().kind, ErrorKind::not_found) << r.error().to_string();
    EXPECT_NE(r.error().hint.find("install the AWS CLI here"), std::string::npos) << r.error().to_string();
}

// A restore through an ecs target cannot work (the runner cannot feed input): it says so before looking for
// or reading a backup, naming the runners that can.
TEST(EcsRestore, FailsBeforeReadingTheBackupAndNamesTheRunnersThatCan)
{
    Workspace work("dbkeep-ecs-restore");
    work.write_config(work.local_storage_yaml() +
                      "targets:\n  app:\n    engine: postgres\n    url: postgres://postgres@127.0.0.1:1/app\n"
                      "    runner: { type: ecs, cluster: prod, service: web, container: postgres, shared_dir: " +
                      work.dir().string() + " }\n");
    auto r = work.dbkeep({"restore", "app", "--to", "postgres://postgres@127.0.0.1:1/copy"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("its runner is ecs, which launches commands detached"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("docker, kubectl or ssh runner"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("restore --output FILE"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("no backup"), std::string::npos) << r.err; // not the late error of the lookup
}

} // namespace
