// Model spec files: parsing, expansion of repeats and patterns, and strict validation.
// Every error names the file and the JSON path of the offending value.
#include "adaptis/model/model_spec.h"

#include <cmath>
#include <map>
#include <set>

#include "adaptis/model/error.h"
#include "adaptis/model/json_file.h"
#include "adaptis/model/limits.h"

namespace adaptis {

const char* component_kind_name(ComponentKind k) {
  switch (k) {
    case ComponentKind::Embedding: return "embedding";
    case ComponentKind::Attention: return "attention";
    case ComponentKind::Mlp: return "mlp";
    case ComponentKind::Moe: return "moe";
    case ComponentKind::Mamba: return "mamba";
    case ComponentKind::LmHead: return "lm_head";
  }
  return "?";
}

const char* activation_name(Activation a) {
  switch (a) {
    case Activation::SwiGLU: return "swiglu";
    case Activation::GeGLU: return "geglu";
    case Activation::GeLU: return "gelu";
    case Activation::ReLU: return "relu";
    case Activation::ReLU2: return "relu2";
    case Activation::SiLU: return "silu";
  }
  return "?";
}

const char* norm_name(NormKind n) { return n == NormKind::RMSNorm ? "rmsnorm" : "layernorm"; }

const char* dtype_name(DType d) {
  switch (d) {
    case DType::BF16: return "bf16";
    case DType::FP16: return "fp16";
    case DType::FP32: return "fp32";
  }
  return "?";
}

int dtype_bytes(DType d) { return d == DType::FP32 ? 4 : 2; }

bool is_gated(Activation a) { return a == Activation::SwiGLU || a == Activation::GeGLU; }

bool LayerSpec::has(ComponentKind k) const {
  for (const auto& p : parts)
    if (p.kind == k) return true;
  return false;
}

int ModelSpec::microbatches() const {
  if (global_batch_size <= 0 || micro_batch_size <= 0 || data_parallel <= 0) return 0;
  return static_cast<int>(global_batch_size / (micro_batch_size * data_parallel));
}

namespace {

using nlohmann::json;

// Upper bound for any dimension: keeps products far from overflow and catches typos (an extra 0).
constexpr long long kMaxDim = 1LL << 24;
constexpr int kMaxNesting = 16;

// --- Which dimension fields each primitive kind reads -------------------------------------------

enum class FieldType { Int, Bool, Number, Activation, Norm };

struct FieldInfo {
  const char* name;
  FieldType type;
  std::vector<ComponentKind> kinds;
};

const std::vector<FieldInfo>& field_table() {
  using K = ComponentKind;
  static const std::vector<FieldInfo> t = {
      {"hidden", FieldType::Int, {K::Embedding, K::Attention, K::Mlp, K::Moe, K::Mamba, K::LmHead}},
      {"norm", FieldType::Norm, {K::Attention, K::Mlp, K::Moe, K::Mamba, K::LmHead}},
      {"heads", FieldType::Int, {K::Attention}},
      {"kv_heads", FieldType::Int, {K::Attention}},
      {"head_dim", FieldType::Int, {K::Attention}},
      {"window", FieldType::Int, {K::Attention}},
      {"causal", FieldType::Bool, {K::Attention}},
      {"qkv_bias", FieldType::Bool, {K::Attention}},
      {"q_lora_rank", FieldType::Int, {K::Attention}},
      {"kv_lora_rank", FieldType::Int, {K::Attention}},
      {"qk_nope_head_dim", FieldType::Int, {K::Attention}},
      {"qk_rope_head_dim", FieldType::Int, {K::Attention}},
      {"v_head_dim", FieldType::Int, {K::Attention}},
      {"ffn_hidden", FieldType::Int, {K::Mlp}},
      {"activation", FieldType::Activation, {K::Mlp, K::Moe}},
      {"experts", FieldType::Int, {K::Moe}},
      {"top_k", FieldType::Int, {K::Moe}},
      {"expert_ffn_hidden", FieldType::Int, {K::Moe}},
      {"shared_experts", FieldType::Int, {K::Moe}},
      {"shared_ffn_hidden", FieldType::Int, {K::Moe}},
      {"imbalance", FieldType::Number, {K::Moe}},
      {"mamba_version", FieldType::Int, {K::Mamba}},
      {"state", FieldType::Int, {K::Mamba}},
      {"mamba_heads", FieldType::Int, {K::Mamba}},
      {"mamba_head_dim", FieldType::Int, {K::Mamba}},
      {"groups", FieldType::Int, {K::Mamba}},
      {"expand", FieldType::Number, {K::Mamba}},
      {"conv_kernel", FieldType::Int, {K::Mamba}},
      {"dt_rank", FieldType::Int, {K::Mamba}},
      {"chunk", FieldType::Int, {K::Mamba}},
      {"vocab", FieldType::Int, {K::Embedding, K::LmHead}},
      {"tied", FieldType::Bool, {K::LmHead}},
  };
  return t;
}

const FieldInfo* find_field(const std::string& name) {
  for (const auto& f : field_table())
    if (name == f.name) return &f;
  return nullptr;
}

bool field_applies(const FieldInfo& f, ComponentKind k) {
  for (auto x : f.kinds)
    if (x == k) return true;
  return false;
}

std::string fields_of(ComponentKind k) {
  std::string s;
  for (const auto& f : field_table())
    if (field_applies(f, k)) s.append(s.empty() ? "" : ", ").append(f.name);
  return s;
}

std::string all_field_names() {
  std::string s;
  for (const auto& f : field_table()) s.append(s.empty() ? "" : ", ").append(f.name);
  return s;
}

// --- Layer kinds: primitives and composites -----------------------------------------------------

const std::map<std::string, std::vector<ComponentKind>>& layer_kinds() {
  using K = ComponentKind;
  static const std::map<std::string, std::vector<ComponentKind>> m = {
      {"embedding", {K::Embedding}},
      {"attention", {K::Attention}},
      {"mlp", {K::Mlp}},
      {"moe", {K::Moe}},
      {"mamba", {K::Mamba}},
      {"lm_head", {K::LmHead}},
      {"transformer", {K::Attention, K::Mlp}},
      {"moe_transformer", {K::Attention, K::Moe}},
      {"block", {}},  // parts listed explicitly
  };
  return m;
}

std::string known_kinds() {
  std::string s;
  for (const auto& [k, v] : layer_kinds()) s += (s.empty() ? "" : ", ") + k;
  return s;
}

// Keys of a layer object that are not dimensions.
bool is_layer_meta_key(const std::string& k) { return k == "kind" || k == "name" || k == "parts" || k == "repeat"; }

// A layer's dimension fields come from (highest priority first) a block part, the layer, the
// defaults. Each source remembers its JSON path so messages point at the value that is wrong.
struct Source {
  const json* obj;
  std::string where;
};

class FieldReader {
 public:
  FieldReader(std::vector<Source> sources, ComponentKind kind, std::string layer_where)
      : sources_(std::move(sources)), kind_(kind), layer_where_(std::move(layer_where)) {}

  bool has(const char* key) const { return find(key) != nullptr; }

  long long integer(const char* key, long long fallback, bool required, long long min_value) const {
    const Source* s = find(key);
    if (!s) {
      if (required)
        throw InputError(layer_where_ + ": kind '" + component_kind_name(kind_) + "' needs field '" + key +
                         "' (give it in the layer or in 'defaults')");
      return fallback;
    }
    const json& v = (*s->obj)[key];
    if (!v.is_number_integer())
      throw InputError(s->where + ": field '" + key + "' must be an integer, got " + describe_json(v));
    // An unsigned value above LLONG_MAX would wrap to a negative long long: report it as too large.
    const bool huge = v.is_number_unsigned() && v.get<unsigned long long>() > static_cast<unsigned long long>(kMaxDim);
    long long x = huge ? kMaxDim + 1 : v.get<long long>();
    if (huge)
      throw InputError(s->where + ": field '" + key + "' must be in [" + std::to_string(min_value) + ", " +
                       std::to_string(kMaxDim) + "], got " + describe_json(v));
    if (x < min_value || x > kMaxDim)
      throw InputError(s->where + ": field '" + key + "' must be in [" + std::to_string(min_value) + ", " +
                       std::to_string(kMaxDim) + "], got " + std::to_string(x));
    return x;
  }

  double number(const char* key, double fallback, double min_value, double max_value) const {
    const Source* s = find(key);
    if (!s) return fallback;
    const json& v = (*s->obj)[key];
    if (!v.is_number()) throw InputError(s->where + ": field '" + key + "' must be a number, got " + describe_json(v));
    double x = v.get<double>();
    if (!std::isfinite(x) || x < min_value || x > max_value)
      throw InputError(s->where + ": field '" + key + "' must be in [" + fmt(min_value) + ", " + fmt(max_value) +
                       "], got " + describe_json(v));
    return x;
  }

  bool boolean(const char* key, bool fallback) const {
    const Source* s = find(key);
    if (!s) return fallback;
    const json& v = (*s->obj)[key];
    if (!v.is_boolean()) throw InputError(s->where + ": field '" + key + "' must be true or false, got " + describe_json(v));
    return v.get<bool>();
  }

  Activation activation(Activation fallback) const {
    const Source* s = find("activation");
    if (!s) return fallback;
    const json& v = (*s->obj)["activation"];
    static const std::map<std::string, Activation> names = {
        {"swiglu", Activation::SwiGLU}, {"geglu", Activation::GeGLU}, {"gelu", Activation::GeLU},
        {"relu", Activation::ReLU},     {"relu2", Activation::ReLU2}, {"silu", Activation::SiLU}};
    if (v.is_string()) {
      auto it = names.find(v.get<std::string>());
      if (it != names.end()) return it->second;
    }
    throw InputError(s->where + ": field 'activation' must be one of swiglu, geglu, gelu, relu, relu2, silu; got " +
                     describe_json(v));
  }

  NormKind norm(NormKind fallback) const {
    const Source* s = find("norm");
    if (!s) return fallback;
    const json& v = (*s->obj)["norm"];
    if (v == "rmsnorm") return NormKind::RMSNorm;
    if (v == "layernorm") return NormKind::LayerNorm;
    throw InputError(s->where + ": field 'norm' must be \"rmsnorm\" or \"layernorm\", got " + describe_json(v));
  }

  // Where a field was given (for consistency errors), else the layer.
  std::string where_of(const char* key) const {
    const Source* s = find(key);
    return s ? s->where : layer_where_;
  }
  const std::string& layer_where() const { return layer_where_; }

 private:
  static std::string fmt(double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", x);
    return buf;
  }
  const Source* find(const char* key) const {
    for (const auto& s : sources_)
      if (s.obj && s.obj->is_object() && s.obj->contains(key)) return &s;
    return nullptr;
  }
  std::vector<Source> sources_;
  ComponentKind kind_;
  std::string layer_where_;
};

Component read_component(ComponentKind kind, const FieldReader& r) {
  using K = ComponentKind;
  Component c;
  c.kind = kind;
  const std::string& where = r.layer_where();
  c.hidden = r.integer("hidden", 0, true, 1);
  if (kind != K::Embedding) c.norm = r.norm(NormKind::RMSNorm);

  switch (kind) {
    case K::Embedding:
      c.vocab = r.integer("vocab", 0, true, 1);
      break;

    case K::LmHead:
      c.vocab = r.integer("vocab", 0, true, 1);
      c.tied = r.boolean("tied", false);
      break;

    case K::Attention: {
      c.heads = r.integer("heads", 0, true, 1);
      c.kv_heads = r.integer("kv_heads", c.heads, false, 1);
      if (c.heads % c.kv_heads != 0)
        throw InputError(r.where_of("kv_heads") + ": 'heads' (" + std::to_string(c.heads) +
                         ") must be a multiple of 'kv_heads' (" + std::to_string(c.kv_heads) + ")");
      if (!r.has("head_dim") && c.hidden % c.heads != 0)
        throw InputError(where + ": 'hidden' (" + std::to_string(c.hidden) + ") is not a multiple of 'heads' (" +
                         std::to_string(c.heads) + "); give 'head_dim'");
      c.head_dim = r.integer("head_dim", c.hidden / c.heads, false, 1);
      c.window = r.integer("window", 0, false, 0);
      c.causal = r.boolean("causal", true);
      c.qkv_bias = r.boolean("qkv_bias", false);
      c.kv_lora_rank = r.integer("kv_lora_rank", 0, false, 0);
      if (c.kv_lora_rank > 0) {
        c.q_lora_rank = r.integer("q_lora_rank", 0, false, 0);
        c.qk_nope_head_dim = r.integer("qk_nope_head_dim", 0, true, 0);
        c.qk_rope_head_dim = r.integer("qk_rope_head_dim", 0, true, 0);
        c.v_head_dim = r.integer("v_head_dim", 0, true, 1);
        if (c.qk_nope_head_dim + c.qk_rope_head_dim == 0)
          throw InputError(where + ": MLA query/key heads are empty: 'qk_nope_head_dim' + 'qk_rope_head_dim' must be > 0");
      } else {
        for (const char* k : {"q_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"})
          if (r.has(k))
            throw InputError(r.where_of(k) + ": field '" + k +
                             "' is a multi-head latent attention dimension and needs 'kv_lora_rank' > 0");
      }
      break;
    }

    case K::Mlp:
      c.ffn_hidden = r.integer("ffn_hidden", 0, true, 1);
      c.activation = r.activation(Activation::SwiGLU);
      break;

    case K::Moe: {
      c.experts = r.integer("experts", 0, true, 1);
      c.top_k = r.integer("top_k", 0, true, 1);
      if (c.top_k > c.experts)
        throw InputError(r.where_of("top_k") + ": 'top_k' (" + std::to_string(c.top_k) + ") exceeds 'experts' (" +
                         std::to_string(c.experts) + ")");
      c.expert_ffn_hidden = r.integer("expert_ffn_hidden", 0, true, 1);
      c.shared_experts = r.integer("shared_experts", 0, false, 0);
      c.shared_ffn_hidden = r.integer("shared_ffn_hidden", c.expert_ffn_hidden, false, 1);
      c.activation = r.activation(Activation::SwiGLU);
      // The busiest expert can at most take every token: E/k times the mean load.
      c.imbalance = r.number("imbalance", 1.0, 1.0, double(c.experts) / double(c.top_k));
      break;
    }

    case K::Mamba: {
      c.mamba_version = static_cast<int>(r.integer("mamba_version", 2, false, 1));
      if (c.mamba_version != 1 && c.mamba_version != 2)
        throw InputError(r.where_of("mamba_version") + ": field 'mamba_version' must be 1 or 2, got " +
                         std::to_string(c.mamba_version));
      double expand = r.number("expand", 2.0, 1e-3, 1e3);
      double inner = expand * double(c.hidden);
      c.conv_kernel = r.integer("conv_kernel", 4, false, 1);
      if (c.mamba_version == 2) {
        for (const char* k : {"dt_rank"})
          if (r.has(k)) throw InputError(r.where_of(k) + ": field '" + k + "' applies to mamba_version 1 only");
        c.mamba_head_dim = r.integer("mamba_head_dim", 64, false, 1);
        if (r.has("mamba_heads")) {
          // Published configs (e.g. Nemotron-Nano-v2) size the inner width by heads * head_dim
          // even where it disagrees with expand * hidden; heads win, as in Megatron.
          c.mamba_heads = r.integer("mamba_heads", 0, true, 1);
          c.d_inner = c.mamba_heads * c.mamba_head_dim;
        } else {
          long long d = std::llround(inner);
          if (std::fabs(inner - double(d)) > 1e-6 || d < 1)
            throw InputError(r.where_of("expand") + ": 'expand' * 'hidden' must be a whole number");
          if (d % c.mamba_head_dim != 0)
            throw InputError(where + ": inner width expand*hidden = " + std::to_string(d) +
                             " is not a multiple of 'mamba_head_dim' (" + std::to_string(c.mamba_head_dim) +
                             "); give 'mamba_heads'");
          c.d_inner = d;
          c.mamba_heads = d / c.mamba_head_dim;
        }
        c.state = r.integer("state", 128, false, 1);
        c.groups = r.integer("groups", 1, false, 1);
        if (c.mamba_heads % c.groups != 0)
          throw InputError(r.where_of("groups") + ": mamba heads (" + std::to_string(c.mamba_heads) +
                           ") must be a multiple of 'groups' (" + std::to_string(c.groups) + ")");
        c.chunk = r.integer("chunk", 256, false, 1);
      } else {
        for (const char* k : {"mamba_heads", "mamba_head_dim", "groups", "chunk"})
          if (r.has(k)) throw InputError(r.where_of(k) + ": field '" + k + "' applies to mamba_version 2 only");
        long long d = std::llround(inner);
        if (std::fabs(inner - double(d)) > 1e-6 || d < 1)
          throw InputError(r.where_of("expand") + ": 'expand' * 'hidden' must be a whole number");
        c.d_inner = d;
        c.state = r.integer("state", 16, false, 1);
        c.dt_rank = r.integer("dt_rank", (c.hidden + 15) / 16, false, 1);
      }
      if (c.d_inner > kMaxDim) throw InputError(where + ": mamba inner width is too large");
      break;
    }
  }
  return c;
}

// --- Parsing layers, repeats and patterns -------------------------------------------------------

struct Parser {
  std::string origin;
  const json* defaults = nullptr;
  const json* top_legend = nullptr;

  std::string at(const std::string& path) const { return origin + ": " + path; }

  // One layer object ({"kind": ...} plus dimension fields) into a LayerSpec (not yet named).
  LayerSpec parse_layer(const json& obj, const std::string& path, bool allow_repeat) const {
    std::string where = at(path);
    if (!obj.is_object()) throw InputError(where + ": expected a layer object with a 'kind'");
    if (!obj.contains("kind")) throw InputError(where + ": missing field 'kind' (one of " + known_kinds() + ")");
    if (!obj["kind"].is_string()) throw InputError(where + ": field 'kind' must be a string, got " + describe_json(obj["kind"]));
    LayerSpec layer;
    layer.kind = obj["kind"].get<std::string>();
    auto kit = layer_kinds().find(layer.kind);
    if (kit == layer_kinds().end())
      throw InputError(where + ": unknown layer kind '" + layer.kind + "' (known: " + known_kinds() + ")");
    if (obj.contains("name")) {
      if (!obj["name"].is_string() || obj["name"].get<std::string>().empty())
        throw InputError(where + ": field 'name' must be a non-empty string");
      layer.name = obj["name"].get<std::string>();
    }

    // The parts and, for each, the fields it reads.
    std::vector<ComponentKind> kinds = kit->second;
    std::vector<const json*> part_objs(kinds.size(), nullptr);
    std::vector<std::string> part_paths(kinds.size());
    if (layer.kind == "block") {
      if (!obj.contains("parts") || !obj["parts"].is_array() || obj["parts"].empty())
        throw InputError(where + ": kind 'block' needs a non-empty 'parts' array of {\"kind\": ...} objects");
      const json& parts = obj["parts"];
      for (size_t i = 0; i < parts.size(); ++i) {
        std::string ppath = path + ".parts[" + std::to_string(i) + "]";
        const json& p = parts[i];
        if (!p.is_object() || !p.contains("kind") || !p["kind"].is_string())
          throw InputError(at(ppath) + ": expected an object with a 'kind'");
        std::string pk = p["kind"].get<std::string>();
        auto pit = layer_kinds().find(pk);
        if (pit == layer_kinds().end() || pit->second.size() != 1 || pk == "embedding" || pk == "lm_head")
          throw InputError(at(ppath) + ": part kind '" + pk +
                           "' is not allowed here (a block is made of attention, mlp, moe, mamba)");
        for (auto& [key, value] : p.items()) {
          if (key == "kind") continue;
          const FieldInfo* f = find_field(key);
          if (!f) throw InputError(at(ppath) + ": unknown field '" + key + "' (fields of kind '" + pk + "': " +
                                   fields_of(pit->second[0]) + ")");
          if (!field_applies(*f, pit->second[0]))
            throw InputError(at(ppath) + ": field '" + key + "' does not apply to kind '" + pk + "' (its fields: " +
                             fields_of(pit->second[0]) + ")");
        }
        kinds.push_back(pit->second[0]);
        part_objs.push_back(&p);
        part_paths.push_back(ppath);
      }
    } else if (obj.contains("parts")) {
      throw InputError(where + ": field 'parts' is only for kind 'block'");
    }

    // Every dimension written on the layer must be read by at least one of its parts.
    for (auto& [key, value] : obj.items()) {
      if (is_layer_meta_key(key)) {
        if (key == "repeat" && !allow_repeat) throw InputError(where + ": 'repeat' is not allowed here");
        continue;
      }
      const FieldInfo* f = find_field(key);
      if (!f) throw InputError(where + ": unknown field '" + key + "' (known fields: " + all_field_names() + ")");
      bool used = false;
      for (auto k : kinds) used = used || field_applies(*f, k);
      if (!used) {
        std::string fields;
        for (auto k : kinds)
          fields.append(fields.empty() ? "" : "; ").append(component_kind_name(k)).append(": ").append(fields_of(k));
        throw InputError(where + ": field '" + key + "' does not apply to kind '" + layer.kind + "' (" + fields + ")");
      }
    }

    for (size_t i = 0; i < kinds.size(); ++i) {
      std::vector<Source> sources;
      if (part_objs[i]) sources.push_back({part_objs[i], at(part_paths[i])});
      sources.push_back({&obj, where});
      if (defaults) sources.push_back({defaults, at("defaults")});
      FieldReader r(sources, kinds[i], part_objs[i] ? at(part_paths[i]) : where);
      layer.parts.push_back(read_component(kinds[i], r));
    }
    return layer;
  }

  long long repeat_of(const json& item, const std::string& path) const {
    if (!item.contains("repeat")) return 1;
    const json& v = item["repeat"];
    if (!v.is_number_integer() || v.get<long long>() < 1 || v.get<long long>() > kMaxLayers)
      throw InputError(at(path) + ": field 'repeat' must be an integer in [1, " + std::to_string(kMaxLayers) +
                       "], got " + describe_json(v));
    return v.get<long long>();
  }

  std::map<std::string, LayerSpec> parse_legend(const json& legend, const std::string& path) const {
    if (!legend.is_object() || legend.empty())
      throw InputError(at(path) + ": expected an object mapping one-character symbols to layers");
    std::map<std::string, LayerSpec> out;
    for (auto& [sym, entry] : legend.items()) {
      if (sym.size() != 1)
        throw InputError(at(path) + ": legend key \"" + sym + "\" must be exactly one (ASCII) character");
      out[sym] = parse_layer(entry, path + "." + sym, false);
      out[sym].symbol = sym;
    }
    return out;
  }

  // Appends the layers of one ITEM (see model_spec.h) to `out`.
  void parse_item(const json& item, const std::string& path, int depth, std::vector<LayerSpec>& out) const {
    std::string where = at(path);
    if (depth > kMaxNesting) throw InputError(where + ": layer groups are nested too deeply");
    if (!item.is_object()) throw InputError(where + ": expected an object (a layer, a repeat or a pattern)");
    int forms = int(item.contains("kind")) + int(item.contains("layer")) + int(item.contains("layers")) +
                int(item.contains("pattern"));
    if (forms != 1)
      throw InputError(where + ": give exactly one of 'kind' (a layer), 'layer' or 'layers' (with 'repeat'), "
                               "'pattern' (with 'legend')");
    long long repeat = repeat_of(item, path);

    std::vector<LayerSpec> group;
    if (item.contains("kind")) {
      group.push_back(parse_layer(item, path, true));
    } else {
      for (auto& [key, value] : item.items()) {
        bool ok = key == "repeat" || key == "layer" || key == "layers" || key == "pattern" ||
                  (key == "legend" && item.contains("pattern"));
        if (!ok) throw InputError(where + ": unknown field '" + key + "' in a " +
                                  (item.contains("pattern") ? "pattern" : "repeat") + " item");
      }
      if (item.contains("layer")) {
        group.push_back(parse_layer(item["layer"], path + ".layer", false));
      } else if (item.contains("layers")) {
        const json& arr = item["layers"];
        if (!arr.is_array() || arr.empty()) throw InputError(where + ": field 'layers' must be a non-empty array");
        for (size_t i = 0; i < arr.size(); ++i)
          parse_item(arr[i], path + ".layers[" + std::to_string(i) + "]", depth + 1, group);
      } else {
        const json& pat = item["pattern"];
        if (!pat.is_string() || pat.get<std::string>().empty())
          throw InputError(where + ": field 'pattern' must be a non-empty string of legend symbols");
        std::map<std::string, LayerSpec> legend;
        if (item.contains("legend")) legend = parse_legend(item["legend"], path + ".legend");
        std::map<std::string, LayerSpec> shared;
        if (top_legend) shared = parse_legend(*top_legend, "legend");
        std::string text = pat.get<std::string>();
        for (size_t i = 0; i < text.size(); ++i) {
          std::string sym(1, text[i]);
          const LayerSpec* entry = nullptr;
          if (auto it = legend.find(sym); it != legend.end()) entry = &it->second;
          else if (auto jt = shared.find(sym); jt != shared.end()) entry = &jt->second;
          if (!entry) {
            std::string have;
            for (auto& [k, v] : legend) have += (have.empty() ? "" : " ") + k;
            for (auto& [k, v] : shared)
              if (!legend.count(k)) have += (have.empty() ? "" : " ") + k;
            throw InputError(where + ".pattern: symbol '" + sym + "' at position " + std::to_string(i) +
                             " has no legend entry (legend has: " + (have.empty() ? "nothing" : have) + ")");
          }
          group.push_back(*entry);
        }
      }
    }
    if (double(out.size()) + double(group.size()) * double(repeat) > double(kMaxLayers))
      throw InputError(where + ": the model would have more than " + std::to_string(kMaxLayers) + " layers");
    for (long long r = 0; r < repeat; ++r) out.insert(out.end(), group.begin(), group.end());
  }
};

long long positive_int(const json& doc, const char* key, const std::string& origin, bool required,
                       long long fallback, long long max_value) {
  if (!doc.contains(key)) {
    if (required) throw InputError(origin + ": missing field '" + key + "'");
    return fallback;
  }
  const json& v = doc[key];
  if (!v.is_number_integer() || v.get<long long>() < 1 || v.get<long long>() > max_value)
    throw InputError(origin + ": field '" + key + "' must be an integer in [1, " + std::to_string(max_value) +
                     "], got " + describe_json(v));
  return v.get<long long>();
}

bool bool_field(const json& doc, const char* key, const std::string& origin, bool fallback) {
  if (!doc.contains(key)) return fallback;
  if (!doc[key].is_boolean()) throw InputError(origin + ": field '" + key + "' must be true or false, got " + describe_json(doc[key]));
  return doc[key].get<bool>();
}

}  // namespace

KernelEfficiency parse_kernel_efficiency(const json& j, const std::string& where, KernelEfficiency base) {
  KernelEfficiency e = base;
  if (!j.is_object()) throw InputError(where + ": expected an object of efficiency constants");
  std::map<std::string, double*> fields = {
      {"gemm", &e.gemm},         {"grouped_gemm", &e.grouped_gemm}, {"attention_fwd", &e.attention_fwd},
      {"attention_bwd", &e.attention_bwd}, {"scan_fwd", &e.scan_fwd}, {"scan_bwd", &e.scan_bwd},
      {"hbm", &e.hbm},           {"launch_overhead_us", &e.launch_overhead_us},
      {"gemm_shape_knee", &e.gemm_shape_knee}};
  for (auto& [key, value] : j.items()) {
    auto it = fields.find(key);
    if (it == fields.end()) {
      std::string names;
      for (auto& [k, v] : fields) names += (names.empty() ? "" : ", ") + k;
      throw InputError(where + ": unknown field '" + key + "' (known: " + names + ")");
    }
    if (!value.is_number()) throw InputError(where + "." + key + ": must be a number, got " + describe_json(value));
    double x = value.get<double>();
    bool overhead = key == "launch_overhead_us";
    if (key == "gemm_shape_knee") {
      if (!std::isfinite(x) || x < 0 || x > 1e5)
        throw InputError(where + "." + key + ": must be in [0, 1e5] (elements), got " + describe_json(value));
    } else if (!std::isfinite(x) || (overhead ? (x < 0 || x > 1e6) : (x <= 0 || x > 1))) {
      throw InputError(where + "." + key + ": must be " + (overhead ? "in [0, 1e6] microseconds" : "in (0, 1]") +
                       ", got " + describe_json(value));
    }
    *it->second = x;
  }
  return e;
}

ModelSpec parse_model_spec(const json& doc, const std::string& origin) {
  if (!doc.is_object()) throw InputError(origin + ": expected a JSON object with a 'layers' array");
  static const std::set<std::string> top_keys = {
      "format", "name", "source", "note", "notes", "comment", "dtype", "seq_len", "micro_batch_size",
      "global_batch_size", "data_parallel", "distributed_optimizer", "flash_attention", "attention_dropout",
      "hidden_dropout", "efficiency",
      "defaults", "legend", "layers"};
  for (auto& [key, value] : doc.items())
    if (!top_keys.count(key)) {
      std::string names;
      for (const auto& k : top_keys) names += (names.empty() ? "" : ", ") + k;
      throw InputError(origin + ": unknown field '" + key + "' (known: " + names + ")");
    }

  ModelSpec m;
  m.origin = origin;
  std::string format = json_string_or(doc, "format", "adaptis-model/1", origin);
  if (format != "adaptis-model/1")
    throw InputError(origin + ": field 'format' is \"" + format + "\"; this build reads \"adaptis-model/1\"");
  {
    std::string stem = origin;
    auto slash = stem.find_last_of('/');
    if (slash != std::string::npos) stem = stem.substr(slash + 1);
    auto dot = stem.rfind(".json");
    if (dot != std::string::npos) stem = stem.substr(0, dot);
    m.name = json_string_or(doc, "name", stem, origin);
  }
  m.source = json_string_or(doc, "source", "", origin);
  std::string dtype = json_string_or(doc, "dtype", "bf16", origin);
  if (dtype == "bf16") m.dtype = DType::BF16;
  else if (dtype == "fp16") m.dtype = DType::FP16;
  else if (dtype == "fp32") m.dtype = DType::FP32;
  else throw InputError(origin + ": field 'dtype' must be \"bf16\", \"fp16\" or \"fp32\", got \"" + dtype + "\"");

  m.seq_len = positive_int(doc, "seq_len", origin, true, 0, kMaxDim);
  m.micro_batch_size = positive_int(doc, "micro_batch_size", origin, true, 0, 1 << 20);
  m.data_parallel = positive_int(doc, "data_parallel", origin, false, 1, 1 << 20);
  m.global_batch_size = positive_int(doc, "global_batch_size", origin, false, 0, 1LL << 40);
  if (m.global_batch_size > 0 && m.global_batch_size % (m.micro_batch_size * m.data_parallel) != 0)
    throw InputError(origin + ": field 'global_batch_size' (" + std::to_string(m.global_batch_size) +
                     ") must be a multiple of micro_batch_size * data_parallel (" +
                     std::to_string(m.micro_batch_size * m.data_parallel) + ")");
  if (m.global_batch_size > 0 && m.microbatches() > 1000000)
    throw InputError(origin + ": more than 1000000 micro-batches per iteration");
  m.distributed_optimizer = bool_field(doc, "distributed_optimizer", origin, false);
  m.flash_attention = bool_field(doc, "flash_attention", origin, true);
  for (auto [key, field] : {std::pair{"attention_dropout", &m.attention_dropout}, {"hidden_dropout", &m.hidden_dropout}}) {
    if (!doc.contains(key)) continue;
    const json& v = doc[key];
    if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0 || v.get<double>() >= 1)
      throw InputError(origin + ": field '" + key + "' must be a probability in [0, 1), got " + describe_json(v));
    *field = v.get<double>();
  }
  if (doc.contains("efficiency")) {
    m.efficiency = parse_kernel_efficiency(doc["efficiency"], origin + ": efficiency");
    m.efficiency_overrides = doc["efficiency"];
  }

  Parser p;
  p.origin = origin;
  if (doc.contains("defaults")) {
    const json& d = doc["defaults"];
    if (!d.is_object()) throw InputError(origin + ": field 'defaults' must be an object of layer dimensions");
    for (auto& [key, value] : d.items())
      if (!find_field(key))
        throw InputError(origin + ": defaults: unknown field '" + key + "' (known fields: " + all_field_names() + ")");
    p.defaults = &d;
  }
  if (doc.contains("legend")) {
    p.top_legend = &doc["legend"];
    p.parse_legend(doc["legend"], "legend");  // validate even when no pattern uses it
  }

  const json& items = json_array(doc, "layers", origin);
  if (items.empty()) throw InputError(origin + ": field 'layers' is empty: a model needs at least one layer");
  for (size_t i = 0; i < items.size(); ++i) p.parse_item(items[i], "layers[" + std::to_string(i) + "]", 0, m.layers);

  // Embedding first, LM head last, each at most once; names for the rest count body layers.
  int body = 0;
  for (size_t i = 0; i < m.layers.size(); ++i) {
    LayerSpec& l = m.layers[i];
    bool emb = l.has(ComponentKind::Embedding), head = l.has(ComponentKind::LmHead);
    if (emb && i != 0)
      throw InputError(origin + ": layer " + std::to_string(i) + " is an embedding; only the first layer can be");
    if (head && i + 1 != m.layers.size())
      throw InputError(origin + ": layer " + std::to_string(i) + " is an lm_head; only the last layer can be");
    if (l.name.empty()) l.name = emb ? "embedding" : head ? "lm_head" : "layers." + std::to_string(body);
    if (!emb && !head) ++body;
  }
  return m;
}

ModelSpec load_model_spec(const std::string& path) { return parse_model_spec(read_json_file(path), path); }

}  // namespace adaptis
