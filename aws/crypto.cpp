#include "aws/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstdlib>
#include <initializer_list>
#include <memory>

namespace tq::aws::crypto {
namespace {

// Fetching is the costly part of an EVP call in OpenSSL 3; do it once. A failure here means a broken
// OpenSSL install, which no caller could recover from.
EVP_MD* sha256_md() {
  static EVP_MD* md = [] {
    EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (fetched == nullptr) std::abort();
    return fetched;
  }();
  return md;
}

struct md_ctx_free {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

// One digest context per thread, initialised again for each digest: allocating and freeing one per call
// costs more than hashing a signature's few blocks.
EVP_MD_CTX* thread_context() {
  thread_local std::unique_ptr<EVP_MD_CTX, md_ctx_free> ctx(EVP_MD_CTX_new());
  if (!ctx) std::abort();
  return ctx.get();
}

void digest_of(std::initializer_list<std::span<const unsigned char>> parts, digest& out) {
  EVP_MD_CTX* ctx = thread_context();
  unsigned int length = 0;
  if (EVP_DigestInit_ex(ctx, sha256_md(), nullptr) != 1) std::abort();
  for (const auto& part : parts) {
    if (EVP_DigestUpdate(ctx, part.data(), part.size()) != 1) std::abort();
  }
  if (EVP_DigestFinal_ex(ctx, out.data(), &length) != 1 || length != out.size()) std::abort();
}

// The state a digest leaves in the context is that digest: after an HMAC (a derived signing key, say),
// set it back to the start.
void wipe_thread_context() {
  if (EVP_DigestInit_ex(thread_context(), sha256_md(), nullptr) != 1) std::abort();
}

std::span<const unsigned char> bytes_of(std::string_view text) {
  return {reinterpret_cast<const unsigned char*>(text.data()), text.size()};
}

}  // namespace

digest sha256(std::string_view data) {
  digest out{};
  digest_of({bytes_of(data)}, out);
  return out;
}

std::string sha256_hex(std::string_view data) {
  return hex(sha256(data));
}

// RFC 2104 over the digest context above: H((K ^ opad) || H((K ^ ipad) || data)), K padded to SHA-256's
// 64-byte block (hashed first when longer). EVP_MAC costs more: a context duplicated, keyed and freed per
// call, for a few blocks of hashing. The key's copies are wiped.
digest hmac_sha256(std::span<const unsigned char> key, std::string_view data) {
  constexpr size_t block_size = 64;
  std::array<unsigned char, block_size> padded{};
  if (key.size() > block_size) {
    digest hashed{};
    digest_of({key}, hashed);
    std::copy(hashed.begin(), hashed.end(), padded.begin());
    OPENSSL_cleanse(hashed.data(), hashed.size());
  } else {
    std::copy(key.begin(), key.end(), padded.begin());
  }
  std::array<unsigned char, block_size> pad{};
  for (size_t i = 0; i < block_size; ++i) pad[i] = static_cast<unsigned char>(padded[i] ^ 0x36);
  digest inner{};
  digest_of({pad, bytes_of(data)}, inner);
  for (size_t i = 0; i < block_size; ++i) pad[i] = static_cast<unsigned char>(padded[i] ^ 0x5c);
  digest out{};
  digest_of({pad, inner}, out);
  wipe_thread_context();
  OPENSSL_cleanse(padded.data(), padded.size());
  OPENSSL_cleanse(pad.data(), pad.size());
  OPENSSL_cleanse(inner.data(), inner.size());
  return out;
}

namespace {

// K padded to the block (hashed first when longer), XORed with `pad`, hashed into a context of its own.
EVP_MD_CTX* keyed_context(std::span<const unsigned char> key, unsigned char pad) {
  constexpr size_t block_size = 64;
  std::array<unsigned char, block_size> block{};
  if (key.size() > block_size) {
    digest hashed{};
    digest_of({key}, hashed);
    std::copy(hashed.begin(), hashed.end(), block.begin());
    OPENSSL_cleanse(hashed.data(), hashed.size());
    wipe_thread_context();
  } else {
    std::copy(key.begin(), key.end(), block.begin());
  }
  for (auto& byte : block) byte = static_cast<unsigned char>(byte ^ pad);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr || EVP_DigestInit_ex(ctx, sha256_md(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx, block.data(), block.size()) != 1)
    std::abort();
  OPENSSL_cleanse(block.data(), block.size());
  return ctx;
}

}  // namespace

hmac_key::hmac_key(std::span<const unsigned char> key)
    : m_inner(keyed_context(key, 0x36)), m_outer(keyed_context(key, 0x5c)) {}

hmac_key::~hmac_key() {
  EVP_MD_CTX_free(m_inner);  // which wipes the state
  EVP_MD_CTX_free(m_outer);
}

digest hmac_key::mac(std::string_view data) const {
  EVP_MD_CTX* ctx = thread_context();
  digest inner{};
  digest out{};
  unsigned int length = 0;
  if (EVP_MD_CTX_copy_ex(ctx, m_inner) != 1 || EVP_DigestUpdate(ctx, data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx, inner.data(), &length) != 1 || EVP_MD_CTX_copy_ex(ctx, m_outer) != 1 ||
      EVP_DigestUpdate(ctx, inner.data(), inner.size()) != 1 ||
      EVP_DigestFinal_ex(ctx, out.data(), &length) != 1 || length != out.size())
    std::abort();
  OPENSSL_cleanse(inner.data(), inner.size());
  return out;
}

std::string hex(std::span<const unsigned char> bytes) {
  std::string out;
  append_hex(out, bytes);
  return out;
}

void append_hex(std::string& out, std::span<const unsigned char> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  char chunk[64];  // a digest at a time, appended whole: no zero-filled room, no check per character
  while (!bytes.empty()) {
    const std::size_t n = std::min(bytes.size(), sizeof chunk / 2);
    for (std::size_t i = 0; i < n; ++i) {
      chunk[2 * i] = digits[bytes[i] >> 4];
      chunk[2 * i + 1] = digits[bytes[i] & 0x0f];
    }
    out.append(chunk, 2 * n);
    bytes = bytes.subspan(n);
  }
}

std::string base64(std::span<const unsigned char> bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(),
                                      static_cast<int>(bytes.size()));
  out.resize(written < 0 ? 0 : static_cast<size_t>(written));
  return out;
}

}  // namespace tq::aws::crypto
