#include "adaptis/model/json_file.h"

#include <fstream>
#include <sstream>

namespace adaptis {

namespace {

// nlohmann reports a byte offset; users need line and column.
void line_col(const std::string& text, size_t byte, size_t* line, size_t* col) {
  *line = 1;
  *col = 1;
  if (byte > text.size()) byte = text.size();
  for (size_t i = 0; i + 1 < byte; ++i) {
    if (text[i] == '\n') {
      ++*line;
      *col = 1;
    } else {
      ++*col;
    }
  }
}

const nlohmann::json& field(const nlohmann::json& obj, const char* key, const std::string& where) {
  if (!obj.is_object()) throw InputError(where + ": expected an object");
  auto it = obj.find(key);
  if (it == obj.end()) throw InputError(where + ": missing field '" + key + "'");
  return *it;
}

}  // namespace

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open file");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw InputError(path + ": cannot write file");
  out << text;
  if (!out) throw InputError(path + ": write failed");
}

nlohmann::json parse_json_text(const std::string& text, const std::string& origin) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    size_t line = 0, col = 0;
    line_col(text, e.byte, &line, &col);
    std::string msg = e.what();
    // Strip nlohmann's "[json.exception.parse_error.101] parse error at line 1, column 2: " prefix.
    auto pos = msg.find(": ");
    if (pos != std::string::npos && msg.find("parse error") < pos + 2) {
      auto second = msg.find(": ", pos + 2);
      msg = msg.substr((second != std::string::npos ? second : pos) + 2);
    }
    throw InputError(origin + ":" + std::to_string(line) + ":" + std::to_string(col) + ": malformed JSON: " + msg);
  }
}

nlohmann::json read_json_file(const std::string& path) { return parse_json_text(read_text_file(path), path); }

void write_json_file(const std::string& path, const nlohmann::json& j) { write_text_file(path, j.dump(1) + "\n"); }

double json_number(const nlohmann::json& obj, const char* key, const std::string& where) {
  const auto& v = field(obj, key, where);
  if (!v.is_number()) throw InputError(where + ": field '" + key + "' must be a number, got " + v.dump());
  return v.get<double>();
}

double json_number_or(const nlohmann::json& obj, const char* key, double fallback, const std::string& where) {
  if (!obj.is_object() || !obj.contains(key)) return fallback;
  return json_number(obj, key, where);
}

long long json_int(const nlohmann::json& obj, const char* key, const std::string& where) {
  const auto& v = field(obj, key, where);
  if (!v.is_number_integer()) throw InputError(where + ": field '" + key + "' must be an integer, got " + v.dump());
  return v.get<long long>();
}

long long json_int_or(const nlohmann::json& obj, const char* key, long long fallback, const std::string& where) {
  if (!obj.is_object() || !obj.contains(key)) return fallback;
  return json_int(obj, key, where);
}

std::string json_string(const nlohmann::json& obj, const char* key, const std::string& where) {
  const auto& v = field(obj, key, where);
  if (!v.is_string()) throw InputError(where + ": field '" + key + "' must be a string, got " + v.dump());
  return v.get<std::string>();
}

std::string json_string_or(const nlohmann::json& obj, const char* key, const std::string& fallback,
                           const std::string& where) {
  if (!obj.is_object() || !obj.contains(key)) return fallback;
  return json_string(obj, key, where);
}

const nlohmann::json& json_array(const nlohmann::json& obj, const char* key, const std::string& where) {
  const auto& v = field(obj, key, where);
  if (!v.is_array()) throw InputError(where + ": field '" + key + "' must be an array");
  return v;
}

}  // namespace adaptis
