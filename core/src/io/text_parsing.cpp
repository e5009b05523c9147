#include "text_parsing.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <system_error>

#include "nepcg/error.hpp"

namespace nepcg::text {

namespace {
bool blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }
}  // namespace

std::vector<std::string_view> split(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && blank(line[i])) ++i;
    size_t j = i;
    while (j < line.size() && !blank(line[j])) ++j;
    if (j > i) out.emplace_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

bool parse_double(std::string_view t, double& value) {
  if (t.empty()) return false;
  const char* first = t.data();
  const char* last = t.data() + t.size();
  if (*first == '+') ++first;  // from_chars does not accept a leading '+'
  // Fortran-style exponents (1.0D+03) are common in old files.
  std::string tmp;
  if (t.find_first_of("dD") != std::string_view::npos) {
    tmp.assign(first, last);
    for (char& c : tmp)
      if (c == 'd' || c == 'D') c = 'e';
    first = tmp.data();
    last = tmp.data() + tmp.size();
  }
  auto r = std::from_chars(first, last, value);
  return r.ec == std::errc() && r.ptr == last;
}

bool parse_int(std::string_view t, long long& value) {
  if (t.empty()) return false;
  const char* first = t.data();
  const char* last = t.data() + t.size();
  if (*first == '+') ++first;
  auto r = std::from_chars(first, last, value);
  return r.ec == std::errc() && r.ptr == last;
}

bool parse_bool(std::string_view t, bool& value) {
  if (t == "T" || t == "t" || t == "True" || t == "true" || t == "TRUE") {
    value = true;
    return true;
  }
  if (t == "F" || t == "f" || t == "False" || t == "false" || t == "FALSE") {
    value = false;
    return true;
  }
  return false;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string format_double(double x) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), x);
  return std::string(buf, r.ptr);
}

std::string_view strip_comment(std::string_view line) {
  const size_t hash = line.find('#');
  if (hash != std::string_view::npos) line = line.substr(0, hash);
  size_t b = 0, e = line.size();
  while (b < e && blank(line[b])) ++b;
  while (e > b && blank(line[e - 1])) --e;
  return line.substr(b, e - b);
}

void refuse_directory(const std::string& path, const std::string& what) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw IOError(what + ": '" + path + "' is a directory, not a file");
}

}  // namespace nepcg::text
