#include "adaptis/model/json_file.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "adaptis/model/cancellable_read.h"
#include "adaptis/model/checked.h"

namespace adaptis {

namespace {

using nlohmann::json;

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

std::string at_line_col(const std::string& origin, const std::string& text, size_t byte) {
  size_t line = 0, col = 0;
  line_col(text, byte, &line, &col);
  return origin + ":" + std::to_string(line) + ":" + std::to_string(col);
}

// The byte just past the bracket that opens level kMaxJsonDepth + 1 (brackets inside strings do
// not count), or 0 when the text never nests that deep.
size_t too_deep_at(const std::string& text) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return i + 1;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return 0;
}

// nlohmann's DOM builder with a depth limit and errors kept (with their byte offset) instead of thrown.
class BoundedDomBuilder : public nlohmann::detail::json_sax_dom_parser<json> {
 public:
  using Base = nlohmann::detail::json_sax_dom_parser<json>;
  explicit BoundedDomBuilder(json& root) : Base(root, false) {}

  bool start_object(std::size_t n) { return deeper() && Base::start_object(n); }
  bool start_array(std::size_t n) { return deeper() && Base::start_array(n); }
  bool end_object() {
    --depth_;
    return Base::end_object();
  }
  bool end_array() {
    --depth_;
    return Base::end_array();
  }
  // Parse errors and number overflow (1e999) both arrive here, with the byte they were found at.
  bool parse_error(std::size_t byte, const std::string& /*last_token*/, const nlohmann::detail::exception& e) {
    error_byte = byte;
    error = e.what();
    return false;
  }

  bool too_deep = false;
  size_t error_byte = 0;
  std::string error;

 private:
  bool deeper() {
    if (++depth_ > kMaxJsonDepth) too_deep = true;
    return !too_deep;
  }
  int depth_ = 0;
};

// nlohmann's message without its "[json.exception.parse_error.101] parse error at line 1, column 2: "
// prefix (we give the position ourselves), cut to a bounded length: the last token it quotes can be
// a whole megabyte-long string.
std::string tidy_parser_message(std::string msg) {
  if (msg.rfind("[json.exception.", 0) == 0) {
    auto close = msg.find("] ");
    if (close != std::string::npos) msg = msg.substr(close + 2);
  }
  if (msg.rfind("parse error", 0) == 0) {
    auto colon = msg.find(": ");
    if (colon != std::string::npos) msg = msg.substr(colon + 2);
  }
  if (msg.rfind("number overflow", 0) == 0) msg = "number out of range (" + msg + ")";
  constexpr size_t kMax = 200;
  if (msg.size() > kMax) msg = msg.substr(0, kMax) + "...";
  return msg;
}

const json& field(const json& obj, const char* key, const std::string& where) {
  if (!obj.is_object()) throw InputError(where + ": expected an object, got " + describe_json(obj));
  auto it = obj.find(key);
  if (it == obj.end()) throw InputError(where + ": missing field '" + key + "'");
  return *it;
}

// The integer in `v` (signed or unsigned) as a long long; false when it is not an integer or does
// not fit (an unsigned above LLONG_MAX).
bool as_long_long(const json& v, long long* out) {
  if (v.is_number_unsigned()) {
    auto u = v.get<json::number_unsigned_t>();
    if (u > static_cast<json::number_unsigned_t>(std::numeric_limits<long long>::max())) return false;
    *out = static_cast<long long>(u);
    return true;
  }
  if (!v.is_number_integer()) return false;
  *out = v.get<json::number_integer_t>();
  return true;
}

std::string fmt_double(double x) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.10g", x);
  return buf;
}

// Appends `s` as a JSON string literal, stopping once `out` reaches `limit` characters (then
// without the closing quote, and returns false).
bool append_string_literal(std::string& out, const std::string& s, size_t limit) {
  out += '"';
  for (char c : s) {
    if (out.size() >= limit) return false;
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  out += '"';
  return true;
}

// The first `limit` characters (about) of v's compact JSON text, walked with an explicit stack so
// that a value nested 100000 deep costs no more than a flat one.
std::string bounded_text(const json& v, size_t limit) {
  struct Frame {
    const json* value;
    json::const_iterator next;
    bool first = true;
  };
  std::string out;
  std::vector<Frame> stack;
  bool cut = false;
  auto emit = [&](const json& x) {
    switch (x.type()) {
      case json::value_t::object:
      case json::value_t::array:
        out += x.is_object() ? '{' : '[';
        stack.push_back({&x, x.cbegin()});
        break;
      case json::value_t::string: cut = !append_string_literal(out, x.get_ref<const std::string&>(), limit) || cut; break;
      case json::value_t::number_float: out += fmt_double(x.get<double>()); break;
      case json::value_t::number_integer: out += std::to_string(x.get<json::number_integer_t>()); break;
      case json::value_t::number_unsigned: out += std::to_string(x.get<json::number_unsigned_t>()); break;
      case json::value_t::boolean: out += x.get<bool>() ? "true" : "false"; break;
      case json::value_t::null: out += "null"; break;
      default: out += "<binary>"; break;
    }
  };
  emit(v);
  while (!stack.empty() && out.size() < limit) {
    Frame& f = stack.back();
    if (f.next == f.value->cend()) {
      out += f.value->is_object() ? '}' : ']';
      stack.pop_back();
      continue;
    }
    if (!f.first) out += ',';
    f.first = false;
    const auto it = f.next++;
    if (f.value->is_object()) {
      cut = !append_string_literal(out, it.key(), limit) || cut;
      out += ':';
    }
    emit(*it);  // may push: `f` is not used after this
  }
  if (cut || out.size() > limit || !stack.empty()) {
    out.resize(std::min(out.size(), limit));
    out += "...";
  }
  return out;
}

}  // namespace

std::string describe_json(const json& v) {
  const char* kind = "a value";
  switch (v.type()) {
    case json::value_t::object: kind = "an object"; break;
    case json::value_t::array: kind = "an array"; break;
    case json::value_t::string: kind = "a string"; break;
    case json::value_t::boolean: kind = "a boolean"; break;
    case json::value_t::null: kind = "null"; break;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: kind = "an integer"; break;
    case json::value_t::number_float: kind = "a number"; break;
    default: break;
  }
  if (v.is_null()) return kind;
  return std::string(kind) + " " + bounded_text(v, 60);
}

namespace {

// How long one wait for more of a file lasts before a cancellable read looks at its flag again.
constexpr int kCancelPollMs = 50;

// read_text_file's body; nullopt only when `cancel` (null = none) was set. With a flag, the file is
// opened without waiting for a writer (a FIFO opened for reading otherwise waits in open() until one
// comes) and each read first waits in poll() for at most kCancelPollMs.
std::optional<std::string> read_text(const std::string& path, const std::atomic<bool>* cancel) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw InputError(path + ": is a directory, not a file");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (cancel ? O_NONBLOCK : 0));
  if (fd < 0) {
    const int err = errno;
    throw InputError(path + ": cannot open file: " + std::strerror(err));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  std::string text;
  char buf[1 << 16];
  while (true) {
    if (cancel) {
      if (cancel->load()) return std::nullopt;
      pollfd ready{fd, POLLIN, 0};
      const int n = ::poll(&ready, 1, kCancelPollMs);
      if (n < 0 && errno != EINTR) {
        const int err = errno;
        throw InputError(path + ": cannot read file: " + std::strerror(err));
      }
      if (n <= 0) continue;  // nothing yet (a FIFO nobody has written): look at the flag again
    }
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      const int err = errno;
      throw InputError(path + ": cannot read file: " + std::strerror(err));
    }
    if (n == 0) break;
    if (text.size() + static_cast<size_t>(n) > kMaxInputFileBytes)
      throw InputError(path + ": larger than " + std::to_string(kMaxInputFileBytes >> 20) +
                       " MiB; too large for an adaptis input file");
    text.append(buf, static_cast<size_t>(n));
  }
  return text;
}

}  // namespace

std::string read_text_file(const std::string& path) { return *read_text(path, nullptr); }

std::optional<std::string> read_text_file(const std::string& path, const std::atomic<bool>& cancel) {
  return read_text(path, &cancel);
}

std::string without_utf8_bom(const std::string& text) {
  return text.rfind("\xEF\xBB\xBF", 0) == 0 ? text.substr(3) : text;
}

void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw InputError(path + ": cannot write file");
  out << text;
  if (!out) throw InputError(path + ": write failed");
}

json parse_json_text(const std::string& text, const std::string& origin) {
  if (text.find_first_not_of(" \t\r\n") == std::string::npos)
    throw InputError(origin + ": " + (text.empty() ? "the file is empty" : "holds only white space") +
                     "; expected a JSON document");
  json result;
  BoundedDomBuilder builder(result);
  const bool ok = json::sax_parse(text, &builder, json::input_format_t::json, /*strict=*/true);
  if (builder.too_deep)
    throw InputError(at_line_col(origin, text, too_deep_at(text)) + ": malformed JSON: nested deeper than " +
                     std::to_string(kMaxJsonDepth) + " levels");
  if (!ok || !builder.error.empty())
    throw InputError(at_line_col(origin, text, builder.error_byte) +
                     ": malformed JSON: " + tidy_parser_message(builder.error));
  return result;
}

json read_json_file(const std::string& path) { return parse_json_text(read_text_file(path), path); }

void write_json_file(const std::string& path, const json& j) { write_text_file(path, j.dump(1) + "\n"); }

double json_number(const json& obj, const char* key, const std::string& where) {
  const auto& v = field(obj, key, where);
  if (!v.is_number()) throw InputError(where + ": field '" + key + "' must be a number, got " + describe_json(v));
  return v.get<double>();
}

double json_number_or(const json& obj, const char* key, double fallback, const std::string& where) {
  if (!obj.is_object() || !obj.contains(key)) return fallback;
  return json_number(obj, key, where);
}

long long json_int(const json& obj, const char* key, const std::string& where) {
  const auto& v = field(obj, key, where);
  long long x = 0;
  if (!as_long_long(v, &x)) {
    if (v.is_number_unsigned())
      throw InputError(where + ": field '" + key + "' is out of range, got " + describe_json(v));
    throw InputError(where + ": field '" + key + "' must be an integer, got " + describe_json(v));
  }
  return x;
}

long long json_int_or(const json& obj, const char* key, long long fallback, const std::string& where) {
  if (!obj.is_object() || !obj.contains(key)) return fallback;
  return json_int(obj, key, where);
}

std::string json_string(const json& obj, const char* key, const std::string& where) {
  const auto& v = field(obj, key, where);
  if (!v.is_string()) throw InputError(where + ": field '" + key + "' must be a string, got " + describe_json(v));
  return v.get<std::string>();
}

std::string json_string_or(const json& obj, const char* key, const std::string& fallback, const std::string& where) {
  if (!obj.is_object() || !obj.contains(key)) return fallback;
  return json_string(obj, key, where);
}

const json& json_array(const json& obj, const char* key, const std::string& where) {
  const auto& v = field(obj, key, where);
  if (!v.is_array()) throw InputError(where + ": field '" + key + "' must be an array, got " + describe_json(v));
  return v;
}

const json* json_object_or_null(const json& obj, const char* key, const std::string& where) {
  if (!obj.is_object() || !obj.contains(key)) return nullptr;
  const json& v = obj[key];
  if (!v.is_object()) throw InputError(where + ": field '" + key + "' must be an object, got " + describe_json(v));
  return &v;
}

double json_number_in(const json& obj, const char* key, double lo, double hi, const std::string& where) {
  return checked_finite(json_number(obj, key, where), lo, hi, where + ": field '" + key + "'");
}

double json_number_in_or(const json& obj, const char* key, double fallback, double lo, double hi,
                         const std::string& where) {
  if (!obj.is_object() || !obj.contains(key)) return fallback;
  return json_number_in(obj, key, lo, hi, where);
}

int json_int_in(const json& obj, const char* key, long long lo, long long hi, const std::string& where) {
  return json_value_int_in(field(obj, key, where), lo, hi, where + ": field '" + key + "'");
}

int json_int_in_or(const json& obj, const char* key, int fallback, long long lo, long long hi,
                   const std::string& where) {
  if (!obj.is_object() || !obj.contains(key)) return fallback;
  return json_int_in(obj, key, lo, hi, where);
}

int json_value_int_in(const json& v, long long lo, long long hi, const std::string& what) {
  long long x = 0;
  if (!as_long_long(v, &x)) {
    if (v.is_number_unsigned())
      throw InputError(what + ": must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
                       describe_json(v));
    throw InputError(what + ": must be an integer, got " + describe_json(v));
  }
  return checked_int(x, lo, hi, what);
}

bool is_comment_field(const std::string& key) {
  return key == "note" || key == "notes" || key == "comment" || (!key.empty() && key[0] == '_');
}

void reject_unknown_fields(const json& obj, std::initializer_list<const char*> known, const std::string& where) {
  if (!obj.is_object()) return;
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    const std::string& key = it.key();
    if (is_comment_field(key)) continue;
    bool ok = false;
    for (const char* k : known) ok = ok || key == k;
    if (ok) continue;
    std::string names;
    for (const char* k : known) names += (names.empty() ? "" : ", ") + std::string(k);
    std::string shown;
    if (!append_string_literal(shown, key, 60)) shown += "...";
    throw InputError(where + ": unknown field " + shown + " (known: " + names +
                     "; comments go under \"note\" or keys starting with \"_\")");
  }
}

}  // namespace adaptis
