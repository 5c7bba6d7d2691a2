// TLS for Redis connections with OpenSSL: cached client contexts, a SIGPIPE-free socket BIO,
// SNI and host-name checks, and readable reasons for refused handshakes.
// SPDX-License-Identifier: MIT
#include "tls.hpp"

#include <array>
#include <cerrno>
#include <cstdint>
#include <map>
#include <mutex>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <fmt/format.h>

namespace ttlcache::redis::detail {
namespace {

// A socket BIO of our own because OpenSSL's writes with write(2): a server that closed the
// connection would kill the process with SIGPIPE. send(MSG_NOSIGNAL) only fails the call.
int socket_of(BIO* bio) {
  return static_cast<int>(reinterpret_cast<std::intptr_t>(BIO_get_data(bio)));
}

int bio_write(BIO* bio, const char* data, int size) {
  BIO_clear_retry_flags(bio);
  for (;;) {
    const ssize_t n = ::send(socket_of(bio), data, static_cast<std::size_t>(size), MSG_NOSIGNAL);
    if (n >= 0) return static_cast<int>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_write(bio);
    return -1;
  }
}

int bio_read(BIO* bio, char* data, int size) {
  BIO_clear_retry_flags(bio);
  for (;;) {
    const ssize_t n = ::recv(socket_of(bio), data, static_cast<std::size_t>(size), 0);
    if (n >= 0) return static_cast<int>(n);  // 0: the peer closed
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_read(bio);
    return -1;
  }
}

long bio_ctrl(BIO* /*bio*/, int command, long /*number*/, void* /*pointer*/) {
  return command == BIO_CTRL_FLUSH ? 1 : 0;  // nothing is buffered here
}

int bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

BIO_METHOD* socket_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ttlcache-socket");
    if (m != nullptr) {
      BIO_meth_set_write(m, bio_write);
      BIO_meth_set_read(m, bio_read);
      BIO_meth_set_ctrl(m, bio_ctrl);
      BIO_meth_set_create(m, bio_create);
    }
    return m;
  }();
  return method;
}

struct ContextDeleter {
  void operator()(SSL_CTX* context) const noexcept { SSL_CTX_free(context); }
};

std::shared_ptr<ssl_ctx_st> build_context(const RedisOptions& options, std::string& error) {
  std::unique_ptr<SSL_CTX, ContextDeleter> context(SSL_CTX_new(TLS_client_method()));
  if (!context) {
    error = tls_error_text("cannot create a TLS context");
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(context.get(), TLS1_2_VERSION);
  SSL_CTX_set_mode(context.get(), SSL_MODE_ENABLE_PARTIAL_WRITE);
  SSL_CTX_set_verify(context.get(), options.tls_verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
                     nullptr);
  if (options.tls_ca_file.empty() && options.tls_ca_dir.empty()) {
    // No CA named: the system's trust store, which holds the public CAs that managed services
    // (ElastiCache, Azure, Memorystore's server-authentication mode) sign with.
    if (SSL_CTX_set_default_verify_paths(context.get()) != 1) {
      error = tls_error_text("cannot load the system's trusted CAs");
      return nullptr;
    }
  } else {
    const char* file = options.tls_ca_file.empty() ? nullptr : options.tls_ca_file.c_str();
    const char* dir = options.tls_ca_dir.empty() ? nullptr : options.tls_ca_dir.c_str();
    if (SSL_CTX_load_verify_locations(context.get(), file, dir) != 1) {
      error = fmt::format("cannot load the trusted CAs (tls_ca_file '{}', tls_ca_dir '{}'): {}",
                          options.tls_ca_file, options.tls_ca_dir, tls_error_text("unreadable"));
      return nullptr;
    }
  }
  if (!options.tls_cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(context.get(), options.tls_cert_file.c_str()) != 1) {
      error = fmt::format("cannot load the client certificate (tls_cert_file '{}'): {}",
                          options.tls_cert_file, tls_error_text("unreadable"));
      return nullptr;
    }
    if (SSL_CTX_use_PrivateKey_file(context.get(), options.tls_key_file.c_str(),
                                    SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(context.get()) != 1) {
      // The library's text only: never anything read from the key file.
      error = fmt::format(
          "cannot use the client key (tls_key_file '{}'; it must be an unencrypted PEM key "
          "matching tls_cert_file): {}",
          options.tls_key_file, tls_error_text("unreadable"));
      return nullptr;
    }
  }
  return std::shared_ptr<ssl_ctx_st>(context.release(), ContextDeleter());
}

bool is_ip_address(const std::string& host) {
  std::array<unsigned char, 16> buffer{};
  return ::inet_pton(AF_INET, host.c_str(), buffer.data()) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), buffer.data()) == 1;
}

}  // namespace

std::string tls_error_text(const char* fallback) {
  const unsigned long code = ERR_peek_last_error();
  std::string text = fallback;
  if (code != 0) {
    std::array<char, 256> buffer{};
    ERR_error_string_n(code, buffer.data(), buffer.size());
    // "error:0A000086:SSL routines::certificate verify failed": keep the readable reason.
    const char* reason = ERR_reason_error_string(code);
    text = reason != nullptr ? std::string(reason) : std::string(buffer.data());
  }
  ERR_clear_error();
  return text;
}

std::shared_ptr<ssl_ctx_st> tls_context_for(const RedisOptions& options, std::string& error) {
  // '\n' cannot occur in a path given to OpenSSL usefully; it separates the parts of the key.
  const std::string key =
      fmt::format("{}\n{}\n{}\n{}\n{}", options.tls_ca_file, options.tls_ca_dir,
                  options.tls_cert_file, options.tls_key_file, options.tls_verify ? 1 : 0);
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<ssl_ctx_st>> contexts;
  std::lock_guard<std::mutex> lock(mutex);
  auto found = contexts.find(key);
  if (found != contexts.end()) return found->second;
  auto context = build_context(options, error);
  if (!context) return nullptr;  // not cached: the file may be fixed (or rotated in) later
  if (contexts.size() >= 64) contexts.clear();  // bounded; live connections keep theirs
  contexts.emplace(key, context);
  return context;
}

ssl_st* tls_session(ssl_ctx_st* context, int fd, const RedisOptions& options, std::string& error) {
  ERR_clear_error();
  SSL* session = SSL_new(context);
  BIO_METHOD* method = socket_method();
  BIO* bio = method != nullptr ? BIO_new(method) : nullptr;
  if (session == nullptr || bio == nullptr) {
    error = tls_error_text("cannot create a TLS session");
    BIO_free(bio);
    SSL_free(session);
    return nullptr;
  }
  BIO_set_data(bio, reinterpret_cast<void*>(static_cast<std::intptr_t>(fd)));
  SSL_set_bio(session, bio, bio);  // one reference, owned by the session
  const std::string& name =
      options.tls_server_name.empty() ? options.host : options.tls_server_name;
  const bool ip = is_ip_address(name);
  // SNI carries host names only (RFC 6066); the certificate check covers IP addresses too.
  // (SSL_set_tlsext_host_name spelled out: the macro's C cast trips -Wold-style-cast.)
  bool ok = ip || SSL_ctrl(session, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                           const_cast<char*>(name.c_str())) == 1;
  if (ok && options.tls_verify) {
    ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(session), name.c_str()) == 1
            : SSL_set1_host(session, name.c_str()) == 1;
  }
  if (!ok) {
    error = fmt::format("cannot use '{}' as the TLS server name: {}", name,
                        tls_error_text("invalid name"));
    SSL_free(session);
    return nullptr;
  }
  return session;
}

std::string tls_handshake_failure(ssl_st* session, const RedisOptions& options) {
  const long verdict = SSL_get_verify_result(session);
  if (!options.tls_verify || verdict == X509_V_OK) {
    return fmt::format("TLS handshake failed: {}",
                       tls_error_text("the server closed the connection"));
  }
  ERR_clear_error();
  const std::string& name =
      options.tls_server_name.empty() ? options.host : options.tls_server_name;
  std::string hint;
  switch (verdict) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
      hint = options.tls_ca_file.empty() && options.tls_ca_dir.empty()
                 ? " (it is not signed by a CA the system trusts: set tls_ca_file to the CA that "
                   "signed it)"
                 : " (it is not signed by a CA in tls_ca_file/tls_ca_dir)";
      break;
    case X509_V_ERR_CERT_HAS_EXPIRED:
      hint = " (the server must be given a current certificate)";
      break;
    case X509_V_ERR_CERT_NOT_YET_VALID:
      hint = " (check the clocks)";
      break;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      hint = fmt::format(
          " (it is not issued for '{}': connect by a name it covers, or set tls_server_name)",
          name);
      break;
    default:
      break;
  }
  return fmt::format("TLS handshake failed: the server's certificate was refused: {}{}",
                     X509_verify_cert_error_string(verdict), hint);
}

}  // namespace ttlcache::redis::detail
