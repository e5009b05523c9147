// Internal helpers for the text-file readers: tokenising and strict number parsing.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace nepcg::text {

/// Splits on blanks (spaces, tabs, CR).
std::vector<std::string_view> split(std::string_view line);
/// Strict parsers: the whole token must be a number; return false otherwise.
bool parse_double(std::string_view token, double& value);
bool parse_int(std::string_view token, long long& value);
/// "T", "True", "true", "1" -> true; "F", "False", "false", "0" -> false; else returns false.
bool parse_bool(std::string_view token, bool& value);
std::string lower(std::string_view s);
/// Shortest decimal text that reads back to the same double.
std::string format_double(double x);
/// Removes a trailing '#' comment and surrounding blanks.
std::string_view strip_comment(std::string_view line);
/// Throws IOError "<what>: '<path>' is a directory, not a file" for a directory (an ifstream opens
/// one on Linux and then reads nothing, which readers would report as an empty or truncated file).
void refuse_directory(const std::string& path, const std::string& what);

}  // namespace nepcg::text
