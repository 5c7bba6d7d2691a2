// libFuzzer target for the Redis-side decoders: value header, tag and fail-safe envelopes, bus
// messages and the URL parser. No crash, no unexpected exception, and stable round trips.
// SPDX-License-Identifier: MIT
//
// The first byte picks the decoder, the rest is its input. Decoders of stored bytes never
// throw and answer nullopt/false for what they cannot read; what they do read re-encodes to
// bytes that decode to the same thing (encode(decode(x)) is a fixed point). The URL parser
// throws only ttlcache::error (config_error), never anything else. Anything else is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include "redis/value_format.hpp"
#include "ttlcache/envelope_codec.hpp"
#include "ttlcache/errors.hpp"
#include "ttlcache/fail_safe.hpp"
#include "ttlcache/redis/options.hpp"
#include "ttlcache/redis/pubsub_bus.hpp"
#include "ttlcache/tags.hpp"

namespace {

[[noreturn]] void finding(const char* what) {
  std::fprintf(stderr, "fuzz_redis_decoders: %s\n", what);
  std::abort();
}

void value_header(std::string_view in) {
  const auto payload = ttlcache::redis::detail::unwrap_value(in);
  if (!payload) return;
  for (const bool checksum : {false, true}) {
    std::string wrapped;
    ttlcache::redis::detail::wrap_value(wrapped, *payload, checksum);
    const auto again = ttlcache::redis::detail::unwrap_value(wrapped);
    if (!again || *again != *payload) finding("value header: wrap/unwrap changed the payload");
  }
}

template <class Codec>
void envelope(std::string_view in, const char* name) {
  const auto decoded = Codec::decode(in);
  if (!decoded) return;
  const std::string once = Codec::encode(*decoded);
  const auto again = Codec::decode(once);
  if (!again) finding(name);
  if (Codec::encode(*again) != once) finding(name);
}

void bus_message(std::string_view in) {
  std::string origin;
  ttlcache::InvalidationMessage m;
  if (!ttlcache::redis::decode_message(in, origin, m)) return;
  if (origin.find('|') != std::string::npos) finding("bus message: origin with a '|'");
  const std::string once = ttlcache::redis::encode_message(origin, m);
  std::string origin2;
  ttlcache::InvalidationMessage m2;
  if (!ttlcache::redis::decode_message(once, origin2, m2)) finding("bus message: no round trip");
  if (origin2 != origin || m2.kind != m.kind || m2.scope != m.scope || m2.subject != m.subject ||
      m2.version != m.version || m2.sequence != m.sequence) {
    finding("bus message: round trip changed a field");
  }
}

void url(std::string_view in) {
  try {
    const auto options = ttlcache::redis::RedisOptions::from_url(in);
    (void)options;
  } catch (const ttlcache::error&) {
    // config_error and its kin: the expected answer to a bad URL
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_redis_decoders: from_url threw %s\n", e.what());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 5) {
    case 0:
      value_header(in);
      break;
    case 1:
      envelope<ttlcache::TaggedCodec<std::string>>(in, "tag envelope: no stable round trip");
      break;
    case 2:
      envelope<ttlcache::TimedCodec<std::string>>(in, "fail-safe envelope: no stable round trip");
      break;
    case 3:
      bus_message(in);
      break;
    default:
      url(in);
      break;
  }
  return 0;
}
