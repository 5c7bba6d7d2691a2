// RedisOptions: URL parsing, validation, and a password-free description for logs.
// SPDX-License-Identifier: MIT
#include "ttlcache/redis/options.hpp"

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <utility>

#include <unistd.h>

#include <fmt/format.h>

#include "ttlcache/errors.hpp"

namespace ttlcache::redis {
namespace {

// Messages about a URL never quote the URL or its user part: either may hold a password.
[[noreturn]] void url_error(const std::string& reason) { throw config_error("url", reason); }

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view text, std::string_view what) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    const int hi = i + 2 < text.size() ? hex_digit(text[i + 1]) : -1;
    const int lo = i + 2 < text.size() ? hex_digit(text[i + 2]) : -1;
    if (hi < 0 || lo < 0) url_error(fmt::format("bad percent-escape in the {}", what));
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

long long parse_number(std::string_view text, long long min, long long max, std::string_view what) {
  long long value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < min || value > max) {
    // The text itself is not quoted: a mistyped URL can put part of a password here.
    url_error(fmt::format("the {} is not a number from {} to {}", what, min, max));
  }
  return value;
}

// "user:password", ":password", or "password" (the default user, as redis-cli reads it).
void parse_userinfo(std::string_view info, RedisOptions& out) {
  const auto colon = info.find(':');
  if (colon == std::string_view::npos) {
    out.user.clear();
    out.password = percent_decode(info, "password");
  } else {
    out.user = percent_decode(info.substr(0, colon), "user name");
    out.password = percent_decode(info.substr(colon + 1), "password");
  }
}

void parse_db_query(std::string_view query, RedisOptions& out) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (item.empty()) continue;
    if (item.substr(0, 3) != "db=") {
      url_error("only the query parameter db=N is understood");
    }
    out.db = static_cast<int>(parse_number(item.substr(3), 0, 1 << 30, "database number"));
  }
}

// "host[:port]" or "[ipv6][:port]".
RedisEndpoint parse_host_port(std::string_view authority, int default_port) {
  std::string_view host;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) url_error("unclosed '[' in the host");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') url_error("unexpected text after the IPv6 address");
      port = after.substr(1);
      if (port.empty()) url_error("empty port");
    }
  } else {
    const auto colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) url_error("empty port");
    }
  }
  if (host.empty()) url_error("the host is missing");
  RedisEndpoint out;
  out.host = std::string(host);
  out.port = port.empty() ? default_port : static_cast<int>(parse_number(port, 1, 65535, "port"));
  return out;
}

void parse_redis_url(std::string_view rest, RedisOptions& out) {
  if (rest.find('?') != std::string_view::npos || rest.find('#') != std::string_view::npos) {
    url_error("redis:// URLs take no query or fragment; put the database in the path (/N)");
  }
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);

  // The last '@' ends the user part, so an unescaped '@' in a password still parses.
  const auto at = authority.rfind('@');
  if (at != std::string_view::npos) {
    parse_userinfo(authority.substr(0, at), out);
    authority = authority.substr(at + 1);
  } else {
    out.user.clear();
    out.password.clear();
  }

  RedisEndpoint endpoint = parse_host_port(authority, 6379);
  out.host = std::move(endpoint.host);
  out.port = endpoint.port;
  out.unix_socket.clear();
  out.topology = Topology::standalone;
  out.nodes.clear();
  out.sentinel_master.clear();

  if (path.size() > 1) {
    out.db = static_cast<int>(parse_number(path.substr(1), 0, 1 << 30, "database number"));
  } else {
    out.db = 0;
  }
}

// redis+cluster:// and redis+sentinel://: [userinfo@]host:port,host:port[/path].
void parse_multi_url(std::string_view rest, Topology topology, RedisOptions& out) {
  if (rest.find('?') != std::string_view::npos || rest.find('#') != std::string_view::npos) {
    url_error("redis+cluster:// and redis+sentinel:// URLs take no query or fragment");
  }
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path =
      slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  const auto at = authority.rfind('@');
  if (at != std::string_view::npos) {
    parse_userinfo(authority.substr(0, at), out);
    authority = authority.substr(at + 1);
  } else {
    out.user.clear();
    out.password.clear();
  }
  const int default_port = topology == Topology::sentinel ? 26379 : 6379;
  out.nodes.clear();
  while (!authority.empty()) {
    const auto comma = authority.find(',');
    out.nodes.push_back(parse_host_port(authority.substr(0, comma), default_port));
    if (comma == std::string_view::npos) break;
    authority = authority.substr(comma + 1);
    if (authority.empty()) url_error("empty host after ','");
  }
  if (out.nodes.empty()) url_error("at least one host:port is needed");
  out.topology = topology;
  out.unix_socket.clear();
  out.host = out.nodes.front().host;
  out.port = out.nodes.front().port;
  out.db = 0;
  out.sentinel_master.clear();
  if (topology == Topology::cluster) {
    if (!path.empty()) url_error("redis+cluster:// URLs take no path (a cluster has only db 0)");
    return;
  }
  const auto db_slash = path.find('/');
  out.sentinel_master = percent_decode(path.substr(0, db_slash), "master name");
  if (out.sentinel_master.empty()) {
    url_error("redis+sentinel:// URLs need the master name: redis+sentinel://s1:26379/mymaster");
  }
  if (db_slash != std::string_view::npos && db_slash + 1 < path.size()) {
    out.db =
        static_cast<int>(parse_number(path.substr(db_slash + 1), 0, 1 << 30, "database number"));
  }
}

void parse_unix_url(std::string_view rest, RedisOptions& out) {
  const auto question = rest.find('?');
  std::string_view query =
      question == std::string_view::npos ? std::string_view() : rest.substr(question + 1);
  rest = rest.substr(0, question);

  out.user.clear();
  out.password.clear();
  if (!rest.empty() && rest.front() != '/') {
    // unix://user:password@/path: the user part ends at the '@' before the first '/'.
    const auto at = rest.rfind('@', rest.find('/'));
    if (at == std::string_view::npos) url_error("unix:// URLs need an absolute socket path");
    parse_userinfo(rest.substr(0, at), out);
    rest = rest.substr(at + 1);
  }
  if (rest.size() < 2 || rest.front() != '/') {
    url_error("unix:// URLs need an absolute socket path (unix:///path/to/redis.sock)");
  }
  out.unix_socket = percent_decode(rest, "socket path");
  out.topology = Topology::standalone;
  out.nodes.clear();
  out.sentinel_master.clear();
  out.db = 0;
  parse_db_query(query, out);
}

bool valid_client_name(std::string_view name) {
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return false;  // Redis refuses spaces and control bytes
  }
  return true;
}

}  // namespace

RedisOptions RedisOptions::from_url(std::string_view url) {
  RedisOptions options;
  options.apply_url(url);
  return options;
}

RedisOptions& RedisOptions::apply_url(std::string_view url) {
  RedisOptions parsed = *this;
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    url_error(
        "expected redis://host:port/db (rediss:// for TLS), unix:///path?db=N, "
        "redis+cluster://host:port,host:port or redis+sentinel://host:port,host:port/master-name");
  }
  std::string scheme(url.substr(0, scheme_end));
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view rest = url.substr(scheme_end + 3);
  // "rediss..." is the same address over TLS; the other TLS fields (CA, client certificate,
  // server name, verification) are options, not URL parts, so they keep their values.
  const bool secure = scheme.size() >= 6 && scheme.compare(0, 6, "rediss") == 0;
  if (secure) scheme.erase(5, 1);
  if (scheme == "redis") {
    parse_redis_url(rest, parsed);
  } else if (scheme == "unix" && !secure) {
    parse_unix_url(rest, parsed);
  } else if (scheme == "redis+cluster") {
    parse_multi_url(rest, Topology::cluster, parsed);
  } else if (scheme == "redis+sentinel") {
    parse_multi_url(rest, Topology::sentinel, parsed);
  } else {
    url_error(
        "unknown scheme (expected redis://, rediss:// (TLS), unix://, redis+cluster://, "
        "rediss+cluster://, redis+sentinel:// or rediss+sentinel://)");
  }
  parsed.tls = secure;
  *this = std::move(parsed);
  return *this;
}

std::string RedisOptions::describe() const {
  std::string auth;
  if (!user.empty()) {
    auth = fmt::format("{}:***@", user);
  } else if (!password.empty()) {
    auth = ":***@";
  }
  const char* scheme = tls ? "rediss" : "redis";
  std::string where;
  if (topology != Topology::standalone) {
    std::string hosts;
    for (const auto& node : nodes) {
      if (!hosts.empty()) hosts += ',';
      hosts += node.host.find(':') != std::string::npos
                   ? fmt::format("[{}]:{}", node.host, node.port)
                   : fmt::format("{}:{}", node.host, node.port);
    }
    where = topology == Topology::cluster
                ? fmt::format("{}+cluster://{}{}", scheme, auth, hosts)
                : fmt::format("{}+sentinel://{}{}/{}/{}", scheme, auth, hosts, sentinel_master, db);
  } else if (!unix_socket.empty()) {
    where = fmt::format("unix://{}{}?db={}", auth, unix_socket, db);
  } else if (host.find(':') != std::string::npos) {
    where = fmt::format("{}://{}[{}]:{}/{}", scheme, auth, host, port, db);
  } else {
    where = fmt::format("{}://{}{}:{}/{}", scheme, auth, host, port, db);
  }
  std::string tls_text;
  if (tls) {
    // Unverified TLS first and in capitals: it must not pass unnoticed in a log.
    if (!tls_verify)
      tls_text += " TLS-UNVERIFIED (insecure: the server's certificate and name are not checked)";
    tls_text +=
        fmt::format(" tls_ca={}", tls_ca_file.empty() && tls_ca_dir.empty() ? std::string("system")
                                  : tls_ca_file.empty()                     ? tls_ca_dir
                                                                            : tls_ca_file);
    if (!tls_cert_file.empty()) tls_text += fmt::format(" tls_cert={}", tls_cert_file);
    if (!tls_server_name.empty()) tls_text += fmt::format(" tls_server_name={}", tls_server_name);
  }
  return fmt::format("{}{} namespace={} pool={} connect_timeout={}ms command_timeout={}ms", where,
                     tls_text, key_namespace, pool_size, connect_timeout.count(),
                     command_timeout.count());
}

void RedisOptions::validate() const {
  auto fail = [](const char* field, const std::string& reason) {
    throw config_error(field, reason);
  };
  if (topology == Topology::standalone) {
    if (unix_socket.empty()) {
      if (host.empty()) fail("host", "must not be empty (or set unix_socket)");
      if (port < 1 || port > 65535) fail("port", fmt::format("{} is not a TCP port", port));
    }
  } else {
    if (nodes.empty()) {
      fail("nodes", topology == Topology::cluster ? "a cluster needs at least one seed node"
                                                  : "sentinel needs at least one Sentinel");
    }
    for (const auto& node : nodes) {
      if (node.host.empty()) fail("nodes", "a node's host is empty");
      if (node.port < 1 || node.port > 65535) {
        fail("nodes", fmt::format("{} is not a TCP port", node.port));
      }
    }
    if (!unix_socket.empty()) fail("unix_socket", "is only for the standalone topology");
    if (topology == Topology::cluster && db != 0) {
      fail("db", "a Redis Cluster has only database 0");
    }
    if (topology == Topology::sentinel && sentinel_master.empty()) {
      fail("sentinel_master", "must name the master the Sentinels monitor");
    }
  }
  if (tls) {
    if (!unix_socket.empty())
      fail("tls", "Redis serves TLS on TCP ports only, not on a unix socket");
    if (tls_cert_file.empty() != tls_key_file.empty()) {
      fail(tls_cert_file.empty() ? "tls_cert_file" : "tls_key_file",
           "a client certificate needs both tls_cert_file and tls_key_file");
    }
    const std::pair<const char*, const std::string*> files[] = {{"tls_ca_file", &tls_ca_file},
                                                                {"tls_cert_file", &tls_cert_file},
                                                                {"tls_key_file", &tls_key_file}};
    for (const auto& [field, path] : files) {
      if (!path->empty() && ::access(path->c_str(), R_OK) != 0) {
        fail(field, fmt::format("cannot read '{}': {}", *path, std::strerror(errno)));
      }
    }
    if (!tls_ca_dir.empty() && ::access(tls_ca_dir.c_str(), R_OK | X_OK) != 0) {
      fail("tls_ca_dir", fmt::format("cannot read '{}': {}", tls_ca_dir, std::strerror(errno)));
    }
  } else {
    // A CA or certificate without tls is almost surely a forgotten rediss://: say so rather
    // than send the data in the clear.
    const std::pair<const char*, const std::string*> fields[] = {
        {"tls_ca_file", &tls_ca_file},
        {"tls_ca_dir", &tls_ca_dir},
        {"tls_cert_file", &tls_cert_file},
        {"tls_key_file", &tls_key_file},
        {"tls_server_name", &tls_server_name}};
    for (const auto& [field, value] : fields) {
      if (!value->empty()) {
        fail(field, "is set but tls is off: use a rediss:// URL or set tls = true");
      }
    }
  }
  if (max_redirects < 0 || max_redirects > 100) fail("max_redirects", "must be from 0 to 100");
  if (topology_refresh_interval.count() < 0) {
    fail("topology_refresh_interval", "must not be negative");
  }
  if (db < 0) fail("db", fmt::format("{} is negative", db));
  if (!valid_client_name(client_name)) {
    fail("client_name", "may not contain spaces or control characters");
  }
  if (connect_timeout.count() <= 0) fail("connect_timeout", "must be positive");
  if (command_timeout.count() <= 0) fail("command_timeout", "must be positive");
  if (pool_size < 1 || pool_size > 4096) fail("pool_size", "must be from 1 to 4096");
  if (pool_wait_timeout.count() < 0) fail("pool_wait_timeout", "must not be negative");
  if (health_check_after.count() < 0) fail("health_check_after", "must not be negative");
  if (reconnect_backoff_initial.count() <= 0) {
    fail("reconnect_backoff_initial", "must be positive");
  }
  if (reconnect_backoff_max < reconnect_backoff_initial ||
      reconnect_backoff_max > std::chrono::hours(1)) {
    fail("reconnect_backoff_max", "must be from reconnect_backoff_initial to one hour");
  }
  if (key_namespace.empty()) {
    fail("key_namespace", "must not be empty: clear() would remove every key of the database");
  }
  if (max_key_length < 1) fail("max_key_length", "must be positive");
  // Redis refuses bulk strings over 512 MiB (proto-max-bulk-len); leave room for the header.
  if (max_value_size < 1 || max_value_size > (std::size_t{512} << 20) - 64) {
    fail("max_value_size", "must be from 1 byte to 512 MiB");
  }
  if (scan_count < 1) fail("scan_count", "must be positive");
  if (batch_chunk < 1) fail("batch_chunk", "must be positive");
}

}  // namespace ttlcache::redis
