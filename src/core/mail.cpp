#include "core/mail.hpp"

#include "core/cancel.hpp"
#include "core/hex.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <ctime>

namespace dbkeep::mail {
namespace {

struct Upload {
    const std::string* message = nullptr;
    std::size_t sent = 0;
    bool ignore_cancel = false;
    bool cancelled = false;
};

std::size_t on_read(char* data, std::size_t size, std::size_t n, void* user)
{
    auto* u = static_cast<Upload*>(user);
    const std::size_t count = std::min(size * n, u->message->size() - u->sent);
    std::copy_n(u->message->data() + u->sent, count, data);
    u->sent += count;
    return count;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t)
{
    auto* u = static_cast<Upload*>(user);
    if (!u->ignore_cancel && cancel::requested()) {
        u->cancelled = true;
        return 1;
    }
    return 0;
}

std::string one_line(std::string text)
{
    for (char& c : text) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            c = ' ';
        }
    }
    return text;
}

} // namespace

std::string compose(const std::string& from, const std::vector<std::string>& to, const std::string& subject,
                    const std::string& body, const std::string& host, std::chrono::system_clock::time_point now)
{
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char date[64];
    std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    std::string recipients;
    for (const auto& r : to) {
        recipients += (recipients.empty() ? "" : ", ") + one_line(r);
    }
    std::string message = "From: " + one_line(from) + "\r\nTo: " + recipients + "\r\nSubject: " + one_line(subject) +
                          "\r\nDate: " + date + "\r\nMessage-ID: <" + random_hex(12) + "@" + one_line(host) +
                          ">\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                          "Content-Transfer-Encoding: 8bit\r\n\r\n";
    std::size_t pos = 0;
    while (pos <= body.size()) {
        auto end = body.find('\n', pos);
        std::string line = body.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        message += line + "\r\n";
        if (end == std::string::npos) {
            break;
        }
        pos = end + 1;
    }
    return message;
}

Status send(const Envelope& envelope, const std::string& message, bool ignore_cancel)
{
    static const bool k_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    const std::string where = "mail server";
    if (!k_ready) {
        return fail(ErrorKind::failed, "send mail through", where, "curl_global_init failed");
    }
    if (envelope.to.empty()) {
        return fail(ErrorKind::config, "send mail through", where, "no recipient");
    }
    CURL* curl = curl_easy_init();
    if (curl == nullptr) {
        return fail(ErrorKind::failed, "send mail through", where, "curl_easy_init failed");
    }
    curl_slist* rcpt = nullptr;
    for (const auto& r : envelope.to) {
        rcpt = curl_slist_append(rcpt, ("<" + r + ">").c_str());
    }
    Upload upload{.message = &message, .ignore_cancel = ignore_cancel};
    char error_buffer[CURL_ERROR_SIZE] = {};
    curl_easy_setopt(curl, CURLOPT_URL, envelope.url.c_str());
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(curl, CURLOPT_USE_SSL, static_cast<long>(envelope.require_tls ? CURLUSESSL_ALL : CURLUSESSL_NONE));
    if (!envelope.ca_file.empty()) {
        curl_easy_setopt(curl, CURLOPT_CAINFO, envelope.ca_file.c_str());
    }
    if (!envelope.username.empty()) {
        curl_easy_setopt(curl, CURLOPT_USERNAME, envelope.username.c_str());
        curl_easy_setopt(curl, CURLOPT_PASSWORD, envelope.password.c_str());
    }
    const std::string from = "<" + envelope.from + ">";
    curl_easy_setopt(curl, CURLOPT_MAIL_FROM, from.c_str());
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(curl, CURLOPT_READDATA, &upload);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(message.size()));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(envelope.timeout.count()));
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(envelope.timeout.count()));
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &upload);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
    const CURLcode rc = curl_easy_perform(curl);
    long response = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response);
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(curl);
    if (upload.cancelled) {
        return fail_cancelled("send mail through", where);
    }
    if (rc == CURLE_OK) {
        return {};
    }
    std::string text = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(rc);
    if (response != 0) {
        text += " (the server answered " + std::to_string(response) + ")";
    }
    switch (rc) {
    case CURLE_LOGIN_DENIED:
        return fail(ErrorKind::auth, "send mail through", where, text, "check the channel's username and password");
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL: return fail(ErrorKind::config, "send mail through", where, text);
    case CURLE_USE_SSL_FAILED:
        return fail(ErrorKind::failed, "send mail through", where, text,
                    "the server does not offer STARTTLS: use smtps:// (implicit TLS), or tls: none for a local relay");
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING: return fail(ErrorKind::transient, "send mail through", where, text);
    default:
        return fail(response >= 400 && response < 500 ? ErrorKind::transient : ErrorKind::failed, "send mail through",
                    where, text);
    }
}

} // namespace dbkeep::mail
