#pragma once
// Reading JSON input files with errors that point at the file, line and column,
// and typed field access that names the JSON path of a missing or mistyped field.
//
// Every document goes through parse_json_text, which rejects what no consumer could survive:
// nesting deeper than kMaxJsonDepth (nlohmann's parser has no limit, but copying, comparing and
// printing a value recurse over it), numbers that overflow a double, and files larger than
// kMaxInputFileBytes. Messages quote values with describe_json(), which is bounded in length
// and never recurses, whatever the value holds.
//
// Unknown fields: our own formats (model spec, cluster, cost table, plan) reject a field they do
// not know, so a misspelled field ("hbm_bandwith_tbs") is an error and not a silent default.
// Free-form comments are allowed under "note", "notes", "comment" and any key starting with "_".
// A field of the wrong type is always an error.
#include <cstddef>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>

#include "adaptis/model/error.h"

namespace adaptis {

constexpr int kMaxJsonDepth = 512;
constexpr size_t kMaxInputFileBytes = size_t{256} << 20;  // 256 MiB

// Parses `path`; throws InputError "PATH:LINE:COL: malformed JSON: ..." on malformed JSON (also
// "nested deeper than 512 levels" and "number out of range"), "PATH: is a directory", "PATH: the
// file is empty", "PATH: cannot open file: <reason>".
nlohmann::json read_json_file(const std::string& path);

// Parses text already in memory; `origin` names it in messages.
nlohmann::json parse_json_text(const std::string& text, const std::string& origin);

// Writes pretty JSON; throws InputError when the file cannot be written.
void write_json_file(const std::string& path, const nlohmann::json& j);

// A short, bounded description of a value for error messages: its type and at most ~60
// characters of its JSON text, e.g. `a string "fast"`, `an array [[[[[[...`, `a number 1e+308`.
std::string describe_json(const nlohmann::json& v);

// Field helpers: `where` is a readable location such as "model.json: layers[3]". Each throws
// InputError naming `where` and the field when it is missing, of the wrong type or out of range.
double json_number(const nlohmann::json& obj, const char* key, const std::string& where);
double json_number_or(const nlohmann::json& obj, const char* key, double fallback, const std::string& where);
long long json_int(const nlohmann::json& obj, const char* key, const std::string& where);
long long json_int_or(const nlohmann::json& obj, const char* key, long long fallback, const std::string& where);
std::string json_string(const nlohmann::json& obj, const char* key, const std::string& where);
std::string json_string_or(const nlohmann::json& obj, const char* key, const std::string& fallback,
                           const std::string& where);
const nlohmann::json& json_array(const nlohmann::json& obj, const char* key, const std::string& where);
// The object under `key`, or nullptr when the field is absent (an error when it is not an object).
const nlohmann::json* json_object_or_null(const nlohmann::json& obj, const char* key, const std::string& where);

// Range-checked variants: numbers finite and in [lo, hi], integers in [lo, hi] and narrowed to int
// only after the check (lo and hi must fit an int).
double json_number_in(const nlohmann::json& obj, const char* key, double lo, double hi, const std::string& where);
double json_number_in_or(const nlohmann::json& obj, const char* key, double fallback, double lo, double hi,
                         const std::string& where);
int json_int_in(const nlohmann::json& obj, const char* key, long long lo, long long hi, const std::string& where);
int json_int_in_or(const nlohmann::json& obj, const char* key, int fallback, long long lo, long long hi,
                   const std::string& where);
// One array element (or any value) as an int in [lo, hi]; `what` names it ("file: partition[3]").
int json_value_int_in(const nlohmann::json& v, long long lo, long long hi, const std::string& what);

// Throws InputError naming the first key of `obj` that is neither in `known` nor a free-form comment
// (see above), with the known names listed.
void reject_unknown_fields(const nlohmann::json& obj, std::initializer_list<const char*> known,
                           const std::string& where);
bool is_comment_field(const std::string& key);

// Whole text of a file: InputError when it is missing, a directory, unreadable or larger than
// kMaxInputFileBytes.
std::string read_text_file(const std::string& path);
// `text` without a leading UTF-8 byte-order mark (some editors write one); the JSON parser skips it
// itself, the CSV and YAML readers call this.
std::string without_utf8_bom(const std::string& text);
void write_text_file(const std::string& path, const std::string& text);

}  // namespace adaptis
