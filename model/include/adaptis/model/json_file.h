#pragma once
// Reading JSON input files with errors that point at the file, line and column,
// and typed field access that names the JSON path of a missing or mistyped field.
#include <nlohmann/json.hpp>
#include <string>

#include "adaptis/model/error.h"

namespace adaptis {

// Parses `path`; throws InputError "PATH:LINE:COL: parse error: ..." on malformed JSON,
// "PATH: cannot open file" when it cannot be read.
nlohmann::json read_json_file(const std::string& path);

// Parses text already in memory; `origin` names it in messages.
nlohmann::json parse_json_text(const std::string& text, const std::string& origin);

// Writes pretty JSON; throws InputError when the file cannot be written.
void write_json_file(const std::string& path, const nlohmann::json& j);

// Field helpers: `where` is a readable location such as "model.json: layers[3]".
double json_number(const nlohmann::json& obj, const char* key, const std::string& where);
double json_number_or(const nlohmann::json& obj, const char* key, double fallback, const std::string& where);
long long json_int(const nlohmann::json& obj, const char* key, const std::string& where);
long long json_int_or(const nlohmann::json& obj, const char* key, long long fallback, const std::string& where);
std::string json_string(const nlohmann::json& obj, const char* key, const std::string& where);
std::string json_string_or(const nlohmann::json& obj, const char* key, const std::string& fallback,
                           const std::string& where);
const nlohmann::json& json_array(const nlohmann::json& obj, const char* key, const std::string& where);

// Whole text of a file (InputError when missing).
std::string read_text_file(const std::string& path);
void write_text_file(const std::string& path, const std::string& text);

}  // namespace adaptis
