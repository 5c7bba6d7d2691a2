// Key building: part escaping and the SHA-256 digest that shortens over-long keys.
// SPDX-License-Identifier: MIT
#include "ttlcache/key.hpp"

#include <array>
#include <cstdint>

#include "ttlcache/errors.hpp"

namespace ttlcache {
namespace detail {
namespace {

// SHA-256 (FIPS 180-4). A cryptographic digest because a shortened key must not be forgeable:
// with a weak hash, a crafted long key could collide with another user's entry.
class Sha256 {
 public:
  void update(std::string_view data) {
    for (unsigned char c : data) {
      block_[block_len_++] = c;
      if (block_len_ == 64) {
        compress();
        block_len_ = 0;
      }
    }
    total_bits_ += static_cast<std::uint64_t>(data.size()) * 8;
  }

  std::array<std::uint8_t, 32> finish() {
    const std::uint64_t bits = total_bits_;
    block_[block_len_++] = 0x80;
    if (block_len_ > 56) {
      while (block_len_ < 64) block_[block_len_++] = 0;
      compress();
      block_len_ = 0;
    }
    while (block_len_ < 56) block_[block_len_++] = 0;
    for (int i = 7; i >= 0; --i) block_[block_len_++] = static_cast<std::uint8_t>(bits >> (i * 8));
    compress();
    std::array<std::uint8_t, 32> out{};
    for (std::size_t i = 0; i < 8; ++i) {
      for (std::size_t j = 0; j < 4; ++j) {
        out[i * 4 + j] = static_cast<std::uint8_t>(state_[i] >> (24 - 8 * j));
      }
    }
    return out;
  }

 private:
  static std::uint32_t rotr(std::uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

  void compress() {
    static constexpr std::array<std::uint32_t, 64> k = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2};
    std::array<std::uint32_t, 64> w{};
    for (std::size_t i = 0; i < 16; ++i) {
      w[i] = (std::uint32_t{block_[i * 4]} << 24) | (std::uint32_t{block_[i * 4 + 1]} << 16) |
             (std::uint32_t{block_[i * 4 + 2]} << 8) | std::uint32_t{block_[i * 4 + 3]};
    }
    for (std::size_t i = 16; i < 64; ++i) {
      const std::uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      const std::uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    auto s = state_;
    for (std::size_t i = 0; i < 64; ++i) {
      const std::uint32_t t1 = s[7] + (rotr(s[4], 6) ^ rotr(s[4], 11) ^ rotr(s[4], 25)) +
                               ((s[4] & s[5]) ^ (~s[4] & s[6])) + k[i] + w[i];
      const std::uint32_t t2 = (rotr(s[0], 2) ^ rotr(s[0], 13) ^ rotr(s[0], 22)) +
                               ((s[0] & s[1]) ^ (s[0] & s[2]) ^ (s[1] & s[2]));
      s = {t1 + t2, s[0], s[1], s[2], s[3] + t1, s[4], s[5], s[6]};
    }
    for (std::size_t i = 0; i < 8; ++i) state_[i] += s[i];
  }

  std::array<std::uint32_t, 8> state_ = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                         0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::array<std::uint8_t, 64> block_{};
  std::size_t block_len_ = 0;
  std::uint64_t total_bits_ = 0;
};

constexpr char hex_digits[] = "0123456789abcdef";
constexpr char upper_hex_digits[] = "0123456789ABCDEF";  // percent-encoding's usual case

}  // namespace

void append_key_part(std::string& out, std::string_view part, char separator) {
  for (char ch : part) {
    const auto c = static_cast<unsigned char>(ch);
    // '#' too: it marks a shortened key, so a plain key must never contain it raw.
    if (c == '%' || c == '#' || ch == separator || c < 0x20 || c == 0x7f) {
      out += '%';
      out += upper_hex_digits[c >> 4];
      out += upper_hex_digits[c & 0xf];
    } else {
      out += ch;
    }
  }
}

std::string key_digest(std::string_view data) {
  Sha256 sha;
  sha.update(data);
  const auto digest = sha.finish();
  std::string out;
  out.reserve(32);
  for (std::size_t i = 0; i < 16; ++i) {
    out += hex_digits[digest[i] >> 4];
    out += hex_digits[digest[i] & 0xf];
  }
  return out;
}

}  // namespace detail

KeyBuilder::KeyBuilder(Options options) : options_(options) {
  if (options_.max_length < 64) {
    throw argument_error("ttlcache: KeyBuilder max_length must be at least 64");
  }
  const auto sep = static_cast<unsigned char>(options_.separator);
  if (sep == '%' || sep == '#' || sep < 0x20 || sep == 0x7f) {
    throw argument_error(
        "ttlcache: KeyBuilder separator must be a printable byte other than '%' and '#'");
  }
}

std::string KeyBuilder::finish(std::string key) const {
  if (key.size() <= options_.max_length) return key;
  // prefix + '#' + 32 hex digits == max_length exactly.
  std::string digest = detail::key_digest(key);
  key.resize(options_.max_length - 1 - digest.size());
  key += '#';
  key += digest;
  return key;
}

}  // namespace ttlcache
