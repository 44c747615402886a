// The flush contract of sink.hpp, proven once for the Stage base and for every stage built on it.
#include "stream/age/age.hpp"
#include "stream/counting.hpp"
#include "stream/sha256.hpp"
#include "stream/stage.hpp"
#include "stream/zstd.hpp"

#include <algorithm>
#include <functional>
#include <gtest/gtest.h>
#include <ostream>
#include <string>
#include <vector>

using namespace dbkeep;
using namespace dbkeep::stream;

namespace {

// The wrapped sink: records every call, in order.
class CallRecorder final : public Sink {
public:
    Status write(Bytes data) override
    {
        calls.push_back("write");
        bytes += data.size();
        return {};
    }
    Status finish() override
    {
        calls.push_back("finish");
        return {};
    }
    void abort() noexcept override { calls.push_back("abort"); }

    int count(const std::string& call) const { return static_cast<int>(std::count(calls.begin(), calls.end(), call)); }

    std::vector<std::string> calls;
    std::size_t bytes = 0;
};

struct StageCase {
    std::string name;
    std::function<std::unique_ptr<Sink>(Sink&)> make;
};

void PrintTo(const StageCase& stage, std::ostream* os)
{
    *os << stage.name;
}

std::unique_ptr<Sink> make_age(Sink& next)
{
    AgeRecipients recipients;
    recipients.x25519 = {"age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"};
    auto sink = make_age_encryptor(next, recipients);
    EXPECT_TRUE(sink) << sink.error().to_string();
    return sink ? std::move(*sink) : nullptr;
}

std::vector<StageCase> every_stage()
{
    return {
        {"Zstd", [](Sink& next) { return make_zstd_compressor(next, {.workers = 0}); }},
        {"ZstdThreaded", [](Sink& next) { return make_zstd_compressor(next, {.workers = 2}); }},
        {"Age", make_age},
        {"Sha256", [](Sink& next) -> std::unique_ptr<Sink> { return std::make_unique<HashingSink>(next); }},
        {"Counting", [](Sink& next) -> std::unique_ptr<Sink> { return std::make_unique<CountingSink>(next); }},
    };
}

const std::string k_payload(100000, 'x');

class StageContract : public testing::TestWithParam<StageCase> {
protected:
    // The stage under test over `next`, written to and finished; null (with a failure) if that failed.
    std::unique_ptr<Sink> finished_stage(CallRecorder& next)
    {
        auto stage = GetParam().make(next);
        if (!stage || !stage->write(as_bytes(k_payload)) || !stage->finish()) {
            ADD_FAILURE() << "could not write and finish the stage";
            return nullptr;
        }
        return stage;
    }
};

} // namespace

TEST_P(StageContract, DestroyedWithoutFinishAbortsTheWrappedSink)
{
    CallRecorder next;
    {
        auto stage = GetParam().make(next);
        ASSERT_TRUE(stage);
        ASSERT_TRUE(stage->write(as_bytes(k_payload)));
    }
    EXPECT_EQ(next.count("abort"), 1);
    EXPECT_EQ(next.count("finish"), 0);
    ASSERT_FALSE(next.calls.empty());
    EXPECT_EQ(next.calls.back(), "abort");
}

TEST_P(StageContract, DestroyedUntouchedAbortsTheWrappedSink)
{
    CallRecorder next;
    GetParam().make(next).reset();
    EXPECT_EQ(next.calls, std::vector<std::string>{"abort"});
}

TEST_P(StageContract, WriteAfterFinishFails)
{
    CallRecorder next;
    auto stage = finished_stage(next);
    ASSERT_TRUE(stage);
    auto calls_at_finish = next.calls;

    auto late = stage->write(as_bytes(std::string("late")));
    ASSERT_FALSE(late);
    EXPECT_EQ(late.error().kind, ErrorKind::failed);
    EXPECT_EQ(late.error().message, "stream already finished");
    auto again = stage->finish();
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().message, "stream already finished");
    EXPECT_EQ(next.calls, calls_at_finish); // nothing reached the wrapped sink
    EXPECT_EQ(next.count("finish"), 1);
}

TEST_P(StageContract, WriteAfterAbortFails)
{
    CallRecorder next;
    auto stage = GetParam().make(next);
    ASSERT_TRUE(stage);
    stage->abort();
    auto late = stage->write(as_bytes(std::string("late")));
    ASSERT_FALSE(late);
    EXPECT_EQ(late.error().message, "stream already aborted");
    EXPECT_FALSE(stage->finish());
    EXPECT_EQ(next.calls, std::vector<std::string>{"abort"});
}

TEST_P(StageContract, AbortAfterFinishIsANoOp)
{
    CallRecorder next;
    auto stage = finished_stage(next);
    ASSERT_TRUE(stage);
    stage->abort();
    stage.reset();
    EXPECT_EQ(next.count("finish"), 1);
    EXPECT_EQ(next.count("abort"), 0);
    EXPECT_EQ(next.calls.back(), "finish");
}

TEST_P(StageContract, AbortReachesTheWrappedSinkOnce)
{
    CallRecorder next;
    auto stage = GetParam().make(next);
    ASSERT_TRUE(stage);
    ASSERT_TRUE(stage->write(as_bytes(k_payload)));
    stage->abort();
    stage->abort();
    stage.reset();
    EXPECT_EQ(next.count("abort"), 1);
    EXPECT_EQ(next.count("finish"), 0);
}

INSTANTIATE_TEST_SUITE_P(EveryStage, StageContract, testing::ValuesIn(every_stage()),
                         [](const testing::TestParamInfo<StageCase>& param_info) { return param_info.param.name; });

namespace {

// A stage whose flush can be made to fail, to test the base class alone.
class FlakyStage final : public Stage {
public:
    explicit FlakyStage(Sink& next) : Stage(next, "flaky") {}
    bool fail_flush = false;
    int flushes = 0, aborts = 0;

private:
    Status on_write(Bytes data) override { return next().write(data); }
    Status on_finish() override
    {
        ++flushes;
        if (fail_flush) {
            return fail(ErrorKind::failed, "flush", "test stage", "injected failure");
        }
        return {};
    }
    void on_abort() noexcept override { ++aborts; }
};

} // namespace

TEST(Stage, FailedFlushAbortsTheWrappedSinkInsteadOfFinishingIt)
{
    CallRecorder next;
    FlakyStage stage(next);
    stage.fail_flush = true;
    auto st = stage.finish();
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().message, "injected failure");
    EXPECT_EQ(stage.aborts, 1);
    EXPECT_EQ(next.calls, std::vector<std::string>{"abort"});
    stage.abort(); // already aborted: a no-op
    EXPECT_EQ(next.calls, std::vector<std::string>{"abort"});
    EXPECT_FALSE(stage.write(as_bytes(std::string("late"))));
}

TEST(Stage, FinishFlushesOnceThenFinishesTheWrappedSink)
{
    CallRecorder next;
    FlakyStage stage(next);
    ASSERT_TRUE(stage.write(as_bytes(std::string("abc"))));
    ASSERT_TRUE(stage.finish());
    EXPECT_EQ(stage.flushes, 1);
    EXPECT_EQ(stage.aborts, 0);
    EXPECT_EQ(next.calls, (std::vector<std::string>{"write", "finish"}));
}

TEST(Stage, ErrorsNameTheStagesOperation)
{
    CallRecorder next;
    FlakyStage stage(next);
    ASSERT_TRUE(stage.finish());
    auto late = stage.write(as_bytes(std::string("late")));
    ASSERT_FALSE(late);
    EXPECT_EQ(late.error().operation, "flaky");
}
