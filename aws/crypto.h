// SHA-256 and HMAC-SHA256 for the SigV4 signer, on OpenSSL 3's EVP interfaces (no deprecated calls).
// The algorithm objects are fetched once per process; every function is safe to call from any thread.
#pragma once

#include <array>
#include <span>
#include <string>
#include <string_view>

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX

namespace tq::aws::crypto {

using digest = std::array<unsigned char, 32>;

digest sha256(std::string_view data);
std::string sha256_hex(std::string_view data);

digest hmac_sha256(std::span<const unsigned char> key, std::string_view data);
inline digest hmac_sha256(std::string_view key, std::string_view data) {
  return hmac_sha256(std::span(reinterpret_cast<const unsigned char*>(key.data()), key.size()), data);
}

// A key made ready for HMAC-SHA256: the digest states after its inner and its outer pad block, so that each
// MAC with it hashes two blocks fewer (SigV4 signs every request with the day's key). Not changed once made:
// usable from any thread at once. The states stand for the key: wiped when it goes.
class hmac_key {
 public:
  explicit hmac_key(std::span<const unsigned char> key);
  ~hmac_key();
  hmac_key(const hmac_key&) = delete;
  hmac_key& operator=(const hmac_key&) = delete;

  // hmac_sha256(key, data). What it leaves in the thread's digest context is the MAC itself.
  digest mac(std::string_view data) const;

 private:
  evp_md_ctx_st* m_inner = nullptr;
  evp_md_ctx_st* m_outer = nullptr;
};

// Lower-case hex, two characters per byte; append_hex writes them at the end of `out`.
std::string hex(std::span<const unsigned char> bytes);
void append_hex(std::string& out, std::span<const unsigned char> bytes);

// Standard base64 with padding (RFC 4648 section 4): S3's x-amz-checksum-sha256 and Content-MD5 values.
std::string base64(std::span<const unsigned char> bytes);

}  // namespace tq::aws::crypto
