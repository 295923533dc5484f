#include "ic_versions.h"

#include <charconv>
#include <cstdint>

namespace vmbh::cli {

namespace {

bool parse_part(std::string_view s, std::uint16_t& out) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v > 0xFFFF) return false;
  out = static_cast<std::uint16_t>(v);
  return true;
}

}  // namespace

host::Result<proto::IcVersion> parse_ic_version(std::string_view text) {
  const auto dot = text.find('.');
  proto::IcVersion v;
  if (dot == std::string_view::npos || !parse_part(text.substr(0, dot), v.major) ||
      !parse_part(text.substr(dot + 1), v.minor)) {
    return host::Status::fail("\"" + std::string(text) +
                              "\" is not an IC version (major.minor, each 0..65535, e.g. 3.0)");
  }
  return v;
}

host::Result<std::vector<proto::IcVersion>> parse_ic_versions(const std::vector<std::string>& texts,
                                                              const std::string& what) {
  if (texts.size() > proto::kIcMaxVersionCount) {
    return host::Status::fail(what + ": " + std::to_string(texts.size()) +
                              " versions, a negotiate message holds " +
                              std::to_string(proto::kIcMaxVersionCount) + " at most");
  }
  std::vector<proto::IcVersion> out;
  out.reserve(texts.size());
  for (const auto& t : texts) {
    auto v = parse_ic_version(t);
    if (!v) return host::Status::fail(what + ": " + v.message());
    out.push_back(v.value());
  }
  return out;
}

}  // namespace vmbh::cli
