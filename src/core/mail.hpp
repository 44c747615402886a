// Sending one e-mail over SMTP (RFC 5321) through libcurl: STARTTLS (RFC 3207) or implicit TLS (smtps, RFC
// 8314), optional AUTH (libcurl picks the mechanism the server offers), the message given whole (RFC 5322).
#pragma once

#include "core/error.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace dbkeep::mail {

struct Envelope {
    std::string url;                          // smtp://host[:port] (STARTTLS) or smtps://host[:port] (implicit TLS)
    bool require_tls = true;                  // smtp://: refuse to send unless STARTTLS succeeds; false: plain SMTP
    std::string ca_file;                      // PEM bundle to verify the server with; empty: the system's
    std::string username, password;           // AUTH when username is set
    std::string from;                         // the envelope sender, an address
    std::vector<std::string> to;              // the recipients, addresses
    std::chrono::milliseconds timeout{10000}; // the whole exchange, connect to QUIT
};

// An RFC 5322 message: From, To, Subject, Date, Message-ID, MIME-Version and a text/plain UTF-8 body, lines
// ending in CRLF. Control characters in the subject are replaced by spaces (no header injection); body lines
// are CRLF-terminated as given. Pure; thread-safe.
std::string compose(const std::string& from, const std::vector<std::string>& to, const std::string& subject,
                    const std::string& body, const std::string& host, std::chrono::system_clock::time_point now);

// Sends message to every recipient. Fails with auth (the server refused the login), transient (no connection,
// a timeout, a 4xx answer), config (a malformed URL), cancelled (unless ignore_cancel) or failed (the server
// refused a recipient or the message, TLS could not be established). The message never carries the password.
// Thread-safe: each call uses its own connection.
Status send(const Envelope& envelope, const std::string& message, bool ignore_cancel = false);

} // namespace dbkeep::mail
