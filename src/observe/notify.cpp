#include "observe/notify.hpp"

#include "core/cancel.hpp"
#include "core/hex.hpp"
#include "core/http.hpp"
#include "core/human.hpp"
#include "core/mail.hpp"
#include "core/percent.hpp"
#include "core/retry.hpp"
#include "core/time.hpp"
#include "observe/log.hpp"

#include <array>
#include <nlohmann/json.hpp>
#include <sodium.h>
#include <unistd.h>

namespace dbkeep::observe {

namespace {

constexpr std::array<std::pair<Event, std::string_view>, 5> k_event_names{{
    {Event::start, "start"},
    {Event::success, "success"},
    {Event::failure, "failure"},
    {Event::missed, "missed"},
    {Event::verify_failure, "verify_failure"},
}};

std::string this_host()
{
    std::array<char, 256> buf{};
    if (::gethostname(buf.data(), buf.size() - 1) != 0) {
        return "unknown";
    }
    return buf.data();
}

std::string hmac_sha256_hex(const std::string& key, const std::string& message)
{
    std::array<unsigned char, crypto_auth_hmacsha256_BYTES> mac{};
    crypto_auth_hmacsha256_state state;
    crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(key.data()), key.size());
    crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(message.data()), message.size());
    crypto_auth_hmacsha256_final(&state, mac.data());
    return to_hex(Bytes(mac.data(), mac.size()));
}

// One delivery attempt: 2xx is success; 5xx and 429 are transient (retried); any other status fails at once.
Status post(const http::Request& request, const std::string& channel)
{
    auto response = http::perform(request, "notify", channel);
    if (!response) {
        return std::unexpected(response.error());
    }
    if (response->status >= 200 && response->status < 300) {
        return {};
    }
    const ErrorKind kind = http::retryable_status(response->status) ? ErrorKind::transient : ErrorKind::failed;
    std::string body = response->body.substr(0, 200);
    for (char& c : body) {
        if (static_cast<unsigned char>(c) < 0x20) {
            c = ' ';
        }
    }
    return fail(kind, "notify", channel,
                "the receiver answered HTTP " + std::to_string(response->status) + (body.empty() ? "" : ": " + body));
}

http::Request json_request(const Secret& url, std::string body, std::chrono::milliseconds timeout)
{
    http::Request r;
    r.method = "POST";
    r.url = url.reveal();
    r.headers = {{"Content-Type", "application/json"}};
    r.body = std::move(body);
    r.timeout = timeout;
    r.connect_timeout = timeout;
    r.max_body = 64 << 10;
    r.ignore_cancel = true; // an interrupted backup is still reported; the deadline bounds the wait
    return r;
}

http::Request request_for(const Channel& channel, const Notice& notice, const std::string& host)
{
    if (const auto* webhook = std::get_if<WebhookChannel>(&channel.options)) {
        http::Request r =
            json_request(webhook->url, webhook_body(notice, host, std::chrono::system_clock::now()), channel.timeout);
        r.headers.emplace_back("X-Dbkeep-Event", std::string(event_name(notice.event)));
        if (!webhook->hmac_secret.empty()) {
            r.headers.emplace_back("X-Dbkeep-Signature",
                                   "sha256=" + hmac_sha256_hex(webhook->hmac_secret.reveal(), r.body));
        }
        return r;
    }
    if (const auto* slack = std::get_if<SlackChannel>(&channel.options)) {
        return json_request(slack->url, nlohmann::json{{"text", slack_text(notice, host)}}.dump(), channel.timeout);
    }
    const auto& hc = std::get<HealthchecksChannel>(channel.options);
    std::string suffix;
    std::string body;
    switch (notice.event) {
    case Event::start: suffix = "/start"; break;
    case Event::success: body = "backup " + notice.backup_id + " of " + notice.target + " on " + host; break;
    case Event::failure:
    case Event::missed:
    case Event::verify_failure:
        suffix = "/fail";
        body = std::string(event_name(notice.event)) + " " + notice.target + " on " + host + ": " + notice.error;
        break;
    }
    Secret url(hc.url.reveal() + suffix);
    http::Request r = json_request(url, std::move(body), channel.timeout);
    r.headers = {{"Content-Type", "text/plain; charset=utf-8"}};
    return r;
}

} // namespace

std::string_view event_name(Event event)
{
    for (const auto& [e, name] : k_event_names) {
        if (e == event) {
            return name;
        }
    }
    return "unknown";
}

std::optional<Event> parse_event(std::string_view text)
{
    for (const auto& [e, name] : k_event_names) {
        if (name == text) {
            return e;
        }
    }
    return std::nullopt;
}

std::string webhook_body(const Notice& notice, std::string_view host, std::chrono::system_clock::time_point now)
{
    nlohmann::json j{
        {"event", event_name(notice.event)},
        {"target", notice.target},
        {"backup_id", notice.backup_id},
        {"stored_bytes", notice.stored_bytes},
        {"raw_bytes", notice.raw_bytes},
        {"duration_seconds", notice.duration_seconds},
        {"error", notice.error},
        {"host", host},
        {"dbkeep_version", DBKEEP_VERSION},
        {"time", format_rfc3339(now)},
    };
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string slack_text(const Notice& notice, std::string_view host)
{
    const std::string where = "*" + notice.target + "* on `" + std::string(host) + "`";
    const auto duration = human_duration(static_cast<std::int64_t>(notice.duration_seconds * 1000));
    switch (notice.event) {
    case Event::start: return ":hourglass_flowing_sand: dbkeep started a backup of " + where;
    case Event::success:
        return ":white_check_mark: dbkeep backed up " + where + ": " + human_size(notice.stored_bytes) + " stored (" +
               human_size(notice.raw_bytes) + " dumped) in " + duration + ", backup `" + notice.backup_id + "`";
    case Event::failure: return ":x: dbkeep backup of " + where + " FAILED after " + duration + ":\n> " + notice.error;
    case Event::missed:
        return ":warning: dbkeep: no backup of " + where + " is as recent as its schedule requires: " + notice.error;
    case Event::verify_failure: return ":x: dbkeep verification of " + where + " FAILED: " + notice.error;
    }
    return "dbkeep: " + notice.target;
}

std::string sns_body(const std::string& topic_arn, const Notice& notice, std::string_view host)
{
    std::string subject = email_subject(notice, host);
    if (subject.size() > 99) {
        subject.resize(99);
        while (!subject.empty() && (static_cast<unsigned char>(subject.back()) & 0xC0) == 0x80) {
            subject.pop_back(); // never cut a UTF-8 sequence
        }
        if (!subject.empty() && static_cast<unsigned char>(subject.back()) >= 0xC0) {
            subject.pop_back();
        }
    }
    return "Action=Publish&Message=" + percent_encode(email_text(notice, host)) +
           "&Subject=" + percent_encode(subject) + "&TopicArn=" + percent_encode(topic_arn) + "&Version=2010-03-31";
}

std::string email_subject(const Notice& notice, std::string_view host)
{
    const std::string where = notice.target + " on " + std::string(host);
    switch (notice.event) {
    case Event::start: return "[dbkeep] " + notice.target + ": backup started on " + std::string(host);
    case Event::success: return "[dbkeep] " + notice.target + ": backed up on " + std::string(host);
    case Event::failure: return "[dbkeep] " + notice.target + ": backup FAILED on " + std::string(host);
    case Event::missed: return "[dbkeep] " + notice.target + ": backup MISSED (" + where + ")";
    case Event::verify_failure: return "[dbkeep] " + notice.target + ": verification FAILED on " + std::string(host);
    }
    return "[dbkeep] " + where;
}

std::string email_text(const Notice& notice, std::string_view host)
{
    std::string text = "Target:   " + notice.target + "\nHost:     " + std::string(host) +
                       "\nEvent:    " + std::string(event_name(notice.event)) + "\n";
    if (!notice.backup_id.empty()) {
        text += "Backup:   " + notice.backup_id + "\n";
    }
    if (notice.stored_bytes > 0) {
        text +=
            "Size:     " + human_size(notice.stored_bytes) + " stored (" + human_size(notice.raw_bytes) + " dumped)\n";
    }
    if (notice.duration_seconds > 0) {
        text += "Duration: " + human_duration(static_cast<std::int64_t>(notice.duration_seconds * 1000)) + "\n";
    }
    if (!notice.error.empty()) {
        text += "\nError:\n" + notice.error + "\n";
    }
    text += "\n-- \ndbkeep " DBKEEP_VERSION "\n";
    return text;
}

int notify(const std::vector<Channel>& channels, const Notice& notice, const DeliveryPolicy& policy)
{
    const std::string host = this_host();
    int delivered = 0;
    for (const auto& channel : channels) {
        if (!channel.events.contains(notice.event)) {
            continue;
        }
        RetryPolicy retry;
        retry.attempts = cancel::requested() ? 1 : std::max(1, policy.attempts);
        retry.first_delay = policy.first_delay;
        retry.max_delay = policy.first_delay * 4;
        Status sent;
        if (const auto* email = std::get_if<EmailChannel>(&channel.options)) {
            const mail::Envelope envelope{.url = email->url.reveal(),
                                          .require_tls = email->require_tls,
                                          .ca_file = email->ca_file,
                                          .username = email->username,
                                          .password = email->password.reveal(),
                                          .from = email->from,
                                          .to = email->to,
                                          .timeout = channel.timeout};
            const std::string message = mail::compose(email->from, email->to, email_subject(notice, host),
                                                      email_text(notice, host), host, std::chrono::system_clock::now());
            sent = with_retry(retry, [&] { return mail::send(envelope, message, true); });
        } else if (const auto* sns = std::get_if<SnsChannel>(&channel.options)) {
            sent = with_retry(retry, [&]() -> Status {
                http::Request request =
                    json_request(Secret(sns->url), sns_body(sns->topic_arn, notice, host), channel.timeout);
                request.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
                if (auto st = sns->sign(request); !st) {
                    return st; // signed per attempt: the signature carries the time
                }
                return post(request, channel.name);
            });
        } else {
            const http::Request request = request_for(channel, notice, host);
            sent = with_retry(retry, [&] { return post(request, channel.name); });
        }
        if (sent) {
            ++delivered;
            debug("notification sent", {{"channel", channel.name}, {"event", std::string(event_name(notice.event))}});
        } else {
            warn("notification not delivered", {{"channel", channel.name},
                                                {"event", std::string(event_name(notice.event))},
                                                {"target", notice.target},
                                                {"error", sent.error().message}});
        }
    }
    return delivered;
}

} // namespace dbkeep::observe
