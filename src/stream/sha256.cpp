#include "stream/sha256.hpp"

#include "core/hex.hpp"

#include <openssl/evp.h>

namespace dbkeep::stream {
namespace {
EVP_MD_CTX* new_ctx()
{
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
    return ctx;
}

std::string final_hex(void* ctx)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx), md, &len);
    return to_hex(Bytes(md, len));
}
} // namespace

std::string sha256_hex(Bytes data)
{
    EVP_MD_CTX* ctx = new_ctx();
    EVP_DigestUpdate(ctx, data.data(), data.size());
    std::string hex = final_hex(ctx);
    EVP_MD_CTX_free(ctx);
    return hex;
}

HashingSink::HashingSink(Sink& next) : Stage(next, "hash"), m_ctx(new_ctx()) {}
HashingSink::~HashingSink()
{
    EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(m_ctx));
}

Status HashingSink::on_write(Bytes data)
{
    EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(m_ctx), data.data(), data.size());
    m_bytes += data.size();
    return next().write(data);
}

Status HashingSink::on_finish()
{
    m_hex = final_hex(m_ctx);
    return {};
}

HashingSource::HashingSource(Source& inner) : m_inner(inner), m_ctx(new_ctx()) {}
HashingSource::~HashingSource()
{
    EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(m_ctx));
}

Result<std::size_t> HashingSource::read(MutableBytes out)
{
    auto n = m_inner.read(out);
    if (!n) {
        return n;
    }
    if (*n == 0) {
        if (m_hex.empty()) {
            m_hex = final_hex(m_ctx);
        }
        return 0;
    }
    EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(m_ctx), out.data(), *n);
    m_bytes += *n;
    return n;
}

} // namespace dbkeep::stream
