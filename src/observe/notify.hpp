// Notifications: telling people that a backup started, succeeded or failed, through the channels configured
// at the root of the configuration (`notify:`) or per target. A notification never fails or stalls the backup
// it reports on: each channel gets a bounded number of attempts with a per-attempt deadline, and a channel
// that cannot be reached is logged with its name.
#pragma once

#include "core/error.hpp"
#include "core/secret.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace dbkeep::http {
struct Request;
}

namespace dbkeep::observe {

enum class Event { start, success, failure, missed, verify_failure };

// "start", "success", "failure", "missed", "verify_failure".
std::string_view event_name(Event event);
// The inverse of event_name; nullopt for any other text.
std::optional<Event> parse_event(std::string_view text);

// POST of the JSON body documented in README "Notifications", with `X-Dbkeep-Event: EVENT` and, when
// hmac_secret is set, `X-Dbkeep-Signature: sha256=HEX` where HEX is HMAC-SHA256 (RFC 2104) of the exact body
// bytes under the secret.
struct WebhookChannel {
    Secret url;
    Secret hmac_secret; // empty: no signature header
};

// A Slack incoming webhook: POST {"text": "..."} with the target, what happened, the error line, the size
// and the duration.
struct SlackChannel {
    Secret url;
};

// The ping protocol healthchecks.io, Uptime Kuma push monitors and Cronitor share: POST URL/start when a
// backup starts, URL on success, URL/fail with the error as the body on failure (and on missed).
struct HealthchecksChannel {
    Secret url; // the check's ping URL, without a trailing slash
};

// E-mail over SMTP (core/mail): smtp:// with STARTTLS required unless require_tls is false (a local relay),
// or smtps:// (implicit TLS); AUTH when username is set. Subject "[dbkeep] TARGET: WHAT on HOST"; the body says
// what happened, the error, sizes and duration (email_text).
struct EmailChannel {
    Secret url; // smtp[s]://host[:port]
    bool require_tls = true;
    std::string ca_file;
    std::string username;
    Secret password;
    std::string from;
    std::vector<std::string> to;
};

// AWS SNS Publish (the Query API: POST of Action=Publish&TopicArn&Subject&Message&Version=2010-03-31, form
// encoded) to `url`; `sign` adds the SigV4 headers for service "sns" from the AWS credential chain. It is built
// where the chain lives (config, over storage/s3's signer and credentials), so observe needs neither.
struct SnsChannel {
    std::string topic_arn; // arn:aws:sns:REGION:ACCOUNT:NAME
    std::string url;       // https://sns.REGION.amazonaws.com/, or the configured endpoint
    std::function<Status(http::Request&)> sign;
};

using ChannelOptions = std::variant<WebhookChannel, SlackChannel, HealthchecksChannel, EmailChannel, SnsChannel>;

struct Channel {
    std::string name; // for logs: "webhook #1" or the name the configuration gives
    ChannelOptions options;
    std::set<Event> events;                   // the events this channel is sent
    std::chrono::milliseconds timeout{10000}; // per delivery attempt, connect to last byte
};

// What happened, as one notification.
struct Notice {
    Event event = Event::failure;
    std::string target;
    std::string backup_id;          // empty when no backup id exists (a failure before the dump started)
    std::uint64_t stored_bytes = 0; // bytes in storage; 0 when unknown
    std::uint64_t raw_bytes = 0;    // bytes of the dump before compression; 0 when unknown
    double duration_seconds = 0;
    std::string error; // the failure's one-line cause, already redacted; empty on success
};

struct DeliveryPolicy {
    int attempts = 3;                           // per channel, the first included
    std::chrono::milliseconds first_delay{500}; // before the second attempt; doubles
};

// The webhook body: {"event", "target", "backup_id", "stored_bytes", "raw_bytes", "duration_seconds", "error",
// "host", "dbkeep_version", "time"} (time in RFC 3339 UTC). Pure; thread-safe.
std::string webhook_body(const Notice& notice, std::string_view host, std::chrono::system_clock::time_point now);

// The Slack message text for a notice. Pure; thread-safe.
std::string slack_text(const Notice& notice, std::string_view host);

// The SNS Publish form body (application/x-www-form-urlencoded) for a notice: the e-mail subject (at most 99
// characters, as SNS allows) and text. Pure; thread-safe.
std::string sns_body(const std::string& topic_arn, const Notice& notice, std::string_view host);

// The e-mail subject and plain-text body for a notice. Pure; thread-safe.
std::string email_subject(const Notice& notice, std::string_view host);
std::string email_text(const Notice& notice, std::string_view host);

// Sends `notice` to every channel whose events include it, one after the other. Never fails: a channel that
// answers with a non-2xx status, cannot be reached or passes its deadline is retried (5xx, 429 and transport
// errors only; each attempt bounded by the channel's timeout) and then logged as a warning naming the channel and the
// cause, never its URL. After SIGINT or SIGTERM each channel gets one attempt (so that an interrupted backup is still
// reported). Returns how many channels accepted the notice. Thread-safe.
int notify(const std::vector<Channel>& channels, const Notice& notice, const DeliveryPolicy& policy = {});

} // namespace dbkeep::observe
