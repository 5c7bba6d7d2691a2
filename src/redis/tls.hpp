// TLS for Redis connections: client contexts per configuration, sessions over our sockets.
// SPDX-License-Identifier: MIT
#pragma once

#include <memory>
#include <string>

#include "ttlcache/redis/options.hpp"

struct ssl_st;
struct ssl_ctx_st;

namespace ttlcache::redis::detail {

/// The client context for options' TLS settings (trust store, client certificate, verification),
/// built once per distinct setting and shared by every connection using it: loading a CA bundle
/// costs milliseconds, a pool opens many connections. Empty with `error` set when a file cannot
/// be loaded (the message names the option and the file, never a key's contents).
/// Thread-safe.
std::shared_ptr<ssl_ctx_st> tls_context_for(const RedisOptions& options, std::string& error);

/// A client session on the connected socket fd, with SNI and the host-name (or IP) check set
/// for options.tls_server_name (or options.host). Writes never raise SIGPIPE. Null with
/// `error` set on failure. The caller owns the session (SSL_free) but not fd.
ssl_st* tls_session(ssl_ctx_st* context, int fd, const RedisOptions& options, std::string& error);

/// Why a handshake failed: the certificate check's verdict with a hint on what to change, else
/// the library's error text (both cleared from this thread's error queue).
std::string tls_handshake_failure(ssl_st* session, const RedisOptions& options);

/// The library's last error on this thread ("tlsv13 alert certificate required"), or
/// `fallback`; clears the thread's error queue.
std::string tls_error_text(const char* fallback);

}  // namespace ttlcache::redis::detail
