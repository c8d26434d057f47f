// Causal GQA self-attention block with RoPE, F / B / W.
#include "adaptis/executor/layers/attention.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "adaptis/executor/layers/linear.h"
#include "adaptis/executor/layers/rmsnorm.h"
#include "adaptis/model/error.h"

namespace adaptis::exec {

template <typename T>
AttentionLayer<T>::AttentionLayer(const NetConfig& cfg, int num_microbatches)
    : Layer<T>(LayerType::Attention, cfg, num_microbatches),
      hidden_(cfg.hidden),
      heads_(cfg.heads),
      kv_heads_(cfg.kv_heads),
      head_dim_(cfg.head_dim()),
      rope_(make_rope_table<T>(cfg.seq, cfg.head_dim(), cfg.rope_theta)),
      state_(size_t(num_microbatches)) {
  const int qw = heads_ * head_dim_, kv = kv_heads_ * head_dim_;
  this->add_param("norm", 1, hidden_, false);
  this->add_param("wq", qw, hidden_, true);
  this->add_param("wk", kv, hidden_, true);
  this->add_param("wv", kv, hidden_, true);
  this->add_param("wo", hidden_, qw, true);
}

template <typename T>
void AttentionLayer<T>::init_params(T* p, Rng& rng) const {
  const double in_std = 1.0 / std::sqrt(double(hidden_));
  init_constant(p + this->offset(kGain), size_t(hidden_), 1.0);
  init_normal(p + this->offset(kWq), this->param_specs()[kWq].size(), rng, in_std);
  init_normal(p + this->offset(kWk), this->param_specs()[kWk].size(), rng, in_std);
  init_normal(p + this->offset(kWv), this->param_specs()[kWv].size(), rng, in_std);
  // Output projection smaller so a fresh block stays close to identity on the residual stream.
  init_normal(p + this->offset(kWo), this->param_specs()[kWo].size(), rng,
              0.5 / std::sqrt(double(heads_ * head_dim_)));
}

namespace {

// Position of every token inside its document (RoPE): pos0.. at each span's start.
std::vector<int> span_positions(const std::vector<SequenceSpan>& spans, int tokens) {
  std::vector<int> pos(static_cast<size_t>(tokens), 0);
  for (const SequenceSpan& sp : spans)
    for (int t = 0; t < sp.len; ++t) pos[size_t(sp.start + t)] = sp.pos0 + t;
  return pos;
}

// Start of each span's block of softmax probabilities: (heads, len, pre + len) per span, spans in order;
// pre = the span's keys from earlier slices (its pos0).
std::vector<size_t> span_prob_offsets(const std::vector<SequenceSpan>& spans, int heads, size_t* total) {
  std::vector<size_t> off;
  size_t at = 0;
  for (const SequenceSpan& sp : spans) {
    off.push_back(at);
    at += size_t(heads) * size_t(sp.len) * size_t(sp.pos0 + sp.len);
  }
  *total = at;
  return off;
}

}  // namespace

template <typename T>
void AttentionLayer<T>::span_rows(int mb, const SequenceSpan& sp, int pre, std::vector<int>& row_mb,
                                  std::vector<int>& row) const {
  row_mb.clear();
  row.clear();
  if (pre > 0)
    for (const KeyChunk& c : state_[size_t(mb)].prefix)
      for (int t = 0; t < c.count; ++t) {
        row_mb.push_back(c.mb);
        row.push_back(c.start + t);
      }
  for (int t = 0; t < sp.len; ++t) {
    row_mb.push_back(mb);
    row.push_back(sp.start + t);
  }
}

// Every sequence (a row of an equal micro-batch, or a document of a packed one) attends causally to
// itself only: the loops run per span, so no query ever sees another document's keys, and the work is
// the sum over documents of len^2 / 2 pairs (what the planner's unit cost counts). The first span of a
// slice continuing a document has pos0 keys before its own, the earlier slices' (state prefix).
template <typename T>
void AttentionLayer<T>::do_forward(int mb, const MicroBatchData& data, const T* p, const T* x, T* y) {
  State& s = state_[mb];
  const int n = this->tokens(mb), h = hidden_, hd = head_dim_, qw = heads_ * hd, kv = kv_heads_ * hd;
  const int group = heads_ / kv_heads_;
  const T scale = T(1) / std::sqrt(T(hd));
  const std::vector<SequenceSpan>& spans = this->spans(mb);
  const int pre = spans.front().pos0;
  // The earlier slices' key rows: the document the previous slice ended with (its tail).
  s.prefix.clear();
  if (pre > 0) {
    const int prev = data.prev_slice_mb;
    if (prev < 0 || prev >= this->num_microbatches() || state_[size_t(prev)].k.empty())
      throw std::logic_error("attention layer: F of slice micro-batch " + std::to_string(mb) +
                             " without the keys of its previous slice " + std::to_string(prev) +
                             " (its F must run first, its B after this one's, and a recomputed previous slice "
                             "must name this one as its next_slice_mb so that it keeps its keys)");
    s.prefix = state_[size_t(prev)].tail;
    int held = 0;
    for (const KeyChunk& c : s.prefix) held += c.count;
    if (held != pre)
      throw InputError("micro-batch " + std::to_string(mb) + ": first_pos " + std::to_string(pre) +
                       " but its earlier slices hold " + std::to_string(held) + " tokens of the document");
    for (const KeyChunk& c : s.prefix) ++state_[size_t(c.mb)].readers;
  }
  s.tail.clear();
  if (spans.size() == 1) s.tail = s.prefix;
  s.tail.push_back({mb, spans.back().start, spans.back().len});
  s.next_slice = data.next_slice_mb;
  // k and v are overwritten below (an R of a micro-batch whose drop kept them computes the same values);
  // readers and the carries belong to the later slices and are left alone.

  s.x.assign(x, x + size_t(n) * h);
  s.rstd.resize(n);
  s.xn.resize(size_t(n) * h);
  rmsnorm_forward(s.xn.data(), s.rstd.data(), x, p + this->offset(kGain), n, h, this->cfg_.norm_eps);
  s.q.resize(size_t(n) * qw);
  s.k.resize(size_t(n) * kv);
  s.v.resize(size_t(n) * kv);
  linear_forward(s.q.data(), s.xn.data(), p + this->offset(kWq), n, h, qw);
  linear_forward(s.k.data(), s.xn.data(), p + this->offset(kWk), n, h, kv);
  linear_forward(s.v.data(), s.xn.data(), p + this->offset(kWv), n, h, kv);
  const std::vector<int> pos = span_positions(spans, n);
  rope_apply(s.q.data(), rope_, pos.data(), n, heads_, false);
  rope_apply(s.k.data(), rope_, pos.data(), n, kv_heads_, false);

  size_t prob_total = 0;
  const std::vector<size_t> poff = span_prob_offsets(spans, heads_, &prob_total);
  s.probs.assign(prob_total, T(0));
  s.o.assign(size_t(n) * qw, T(0));
  std::vector<int> row_mb, row;
  for (size_t sp = 0; sp < spans.size(); ++sp) {
    const int b0 = spans[sp].start, len = spans[sp].len, sp_pre = spans[sp].pos0, width = sp_pre + len;
    span_rows(mb, spans[sp], sp_pre, row_mb, row);
    for (int hh = 0; hh < heads_; ++hh) {
      const int kh = hh / group;
      for (int i = 0; i < len; ++i) {
        const T* qi = s.q.data() + (size_t(b0 + i) * heads_ + hh) * hd;
        T* pi = s.probs.data() + poff[sp] + (size_t(hh) * len + i) * width;
        const int last = sp_pre + i;  // causal: keys up to the query's own position
        T mx = -INFINITY;
        for (int j = 0; j <= last; ++j) {
          const T* kj = state_[size_t(row_mb[j])].k.data() + (size_t(row[j]) * kv_heads_ + kh) * hd;
          T dot = 0;
          for (int d = 0; d < hd; ++d) dot += qi[d] * kj[d];
          pi[j] = dot * scale;
          if (pi[j] > mx) mx = pi[j];
        }
        T sum = 0;
        for (int j = 0; j <= last; ++j) {
          pi[j] = std::exp(pi[j] - mx);
          sum += pi[j];
        }
        const T inv = T(1) / sum;
        for (int j = 0; j <= last; ++j) pi[j] *= inv;
        T* oi = s.o.data() + (size_t(b0 + i) * heads_ + hh) * hd;
        for (int j = 0; j <= last; ++j) {
          const T* vj = state_[size_t(row_mb[j])].v.data() + (size_t(row[j]) * kv_heads_ + kh) * hd;
          for (int d = 0; d < hd; ++d) oi[d] += pi[j] * vj[d];
        }
      }
    }
  }
  linear_forward(y, s.o.data(), p + this->offset(kWo), n, qw, h);
  for (size_t i = 0; i < size_t(n) * h; ++i) y[i] += s.x[i];  // s.x: y may alias x
}

template <typename T>
void AttentionLayer<T>::do_backward_input(int mb, const T* p, const T* dy, T* dx) {
  State& s = state_[mb];
  const int n = this->tokens(mb), h = hidden_, hd = head_dim_, qw = heads_ * hd, kv = kv_heads_ * hd;
  const int group = heads_ / kv_heads_;
  const T scale = T(1) / std::sqrt(T(hd));
  const std::vector<SequenceSpan>& spans = this->spans(mb);
  if (s.readers > 0)
    throw std::logic_error("attention layer: B of micro-batch " + std::to_string(mb) + " before the B of " +
                           std::to_string(s.readers) + " later slice(s) that attended to its keys");
  for (const KeyChunk& c : s.prefix) {
    State& src = state_[size_t(c.mb)];
    if (src.k.empty())
      throw std::logic_error("attention layer: B of slice micro-batch " + std::to_string(mb) +
                             " after its earlier slice " + std::to_string(c.mb) + " released its keys");
    if (src.dk_carry.empty()) {
      src.dk_carry.assign(src.k.size(), T(0));
      src.dv_carry.assign(src.v.size(), T(0));
    }
  }
  s.dy.assign(dy, dy + size_t(n) * h);
  std::vector<T> d_o(size_t(n) * qw);
  linear_backward_input(d_o.data(), dy, p + this->offset(kWo), n, qw, h, false);

  s.dq.assign(size_t(n) * qw, T(0));
  s.dk.assign(size_t(n) * kv, T(0));
  s.dv.assign(size_t(n) * kv, T(0));
  size_t prob_total = 0;
  const std::vector<size_t> poff = span_prob_offsets(spans, heads_, &prob_total);
  int widest = 0;
  for (const SequenceSpan& sp : spans) widest = std::max(widest, sp.pos0 + sp.len);
  std::vector<T> dp(static_cast<size_t>(widest));
  std::vector<int> row_mb, row;
  // Gradient rows of the keys / values: this micro-batch's own, or an earlier slice's carry.
  auto dk_row = [&](int j) {
    return (row_mb[j] == mb ? s.dk.data() : state_[size_t(row_mb[j])].dk_carry.data()) + size_t(row[j]) * kv;
  };
  auto dv_row = [&](int j) {
    return (row_mb[j] == mb ? s.dv.data() : state_[size_t(row_mb[j])].dv_carry.data()) + size_t(row[j]) * kv;
  };
  for (size_t sp = 0; sp < spans.size(); ++sp) {
    const int b0 = spans[sp].start, len = spans[sp].len, sp_pre = spans[sp].pos0, width = sp_pre + len;
    span_rows(mb, spans[sp], sp_pre, row_mb, row);
    for (int hh = 0; hh < heads_; ++hh) {
      const int kh = hh / group;
      for (int i = 0; i < len; ++i) {
        const size_t qrow = (size_t(b0 + i) * heads_ + hh) * hd;
        const T* doi = d_o.data() + qrow;
        const T* qi = s.q.data() + qrow;
        T* dqi = s.dq.data() + qrow;
        const T* pi = s.probs.data() + poff[sp] + (size_t(hh) * len + i) * width;
        const int last = sp_pre + i;
        // dP_ij = do_i . v_j ; dv_j += P_ij do_i
        T rowdot = 0;
        for (int j = 0; j <= last; ++j) {
          const T* vj = state_[size_t(row_mb[j])].v.data() + (size_t(row[j]) * kv_heads_ + kh) * hd;
          T* dvj = dv_row(j) + size_t(kh) * hd;
          T d = 0;
          for (int e = 0; e < hd; ++e) {
            d += doi[e] * vj[e];
            dvj[e] += pi[j] * doi[e];
          }
          dp[j] = d;
          rowdot += pi[j] * d;
        }
        // Softmax backward: dS_ij = P_ij (dP_ij - sum_j' P_ij' dP_ij'); then the scaled q k^T products.
        for (int j = 0; j <= last; ++j) {
          const T ds = pi[j] * (dp[j] - rowdot) * scale;
          const T* kj = state_[size_t(row_mb[j])].k.data() + (size_t(row[j]) * kv_heads_ + kh) * hd;
          T* dkj = dk_row(j) + size_t(kh) * hd;
          for (int e = 0; e < hd; ++e) {
            dqi[e] += ds * kj[e];
            dkj[e] += ds * qi[e];
          }
        }
      }
    }
  }
  for (const KeyChunk& c : s.prefix) --state_[size_t(c.mb)].readers;
  // What later slices' queries sent back for this micro-batch's keys and values (their B ran first).
  if (!s.dk_carry.empty()) {
    for (size_t i = 0; i < s.dk.size(); ++i) s.dk[i] += s.dk_carry[i];
    for (size_t i = 0; i < s.dv.size(); ++i) s.dv[i] += s.dv_carry[i];
    release(s.dk_carry);
    release(s.dv_carry);
  }
  // Undo the rotation on the gradients: dq, dk become the output gradients of the Wq / Wk linears.
  const std::vector<int> pos = span_positions(spans, n);
  rope_apply(s.dq.data(), rope_, pos.data(), n, heads_, true);
  rope_apply(s.dk.data(), rope_, pos.data(), n, kv_heads_, true);

  std::vector<T> dxn(size_t(n) * h);
  linear_backward_input(dxn.data(), s.dq.data(), p + this->offset(kWq), n, h, qw, false);
  linear_backward_input(dxn.data(), s.dk.data(), p + this->offset(kWk), n, h, kv, true);
  linear_backward_input(dxn.data(), s.dv.data(), p + this->offset(kWv), n, h, kv, true);
  prenorm_backward(dx, dy, dxn.data(), s.x.data(), s.rstd.data(), p + this->offset(kGain), n, h, s.dgain);
  release(s.x);
  release(s.rstd);
  release(s.q);
  release(s.k);
  release(s.v);
  release(s.probs);
  s.prefix.clear();
  s.tail.clear();
}

template <typename T>
void AttentionLayer<T>::do_backward_weight(int mb, T* g) {
  State& s = state_[mb];
  const int n = this->tokens(mb), h = hidden_, qw = heads_ * head_dim_, kv = kv_heads_ * head_dim_;
  for (int i = 0; i < h; ++i) g[this->offset(kGain) + i] += s.dgain[i];
  linear_backward_weight(g + this->offset(kWq), s.dq.data(), s.xn.data(), n, h, qw);
  linear_backward_weight(g + this->offset(kWk), s.dk.data(), s.xn.data(), n, h, kv);
  linear_backward_weight(g + this->offset(kWv), s.dv.data(), s.xn.data(), n, h, kv);
  linear_backward_weight(g + this->offset(kWo), s.dy.data(), s.o.data(), n, qw, h);
  state_[mb] = State{};
}

// Recompute drops a slice's state between its F and R. Its F counted it as a reader of every earlier
// slice whose keys it attends to; without taking that back the R would count it twice and the earlier
// slices' B would wait for a reader that never comes. A slice that a later slice reads keeps its keys and
// values: the later slice's F may run before this one's R (it attends to them) and its B may too (it adds
// into the carries, which this one's B folds in). Its readers count and carries stay as they are, and the R
// overwrites k and v with the same values.
template <typename T>
void AttentionLayer<T>::drop_state(int mb) {
  State& s = state_[size_t(mb)];
  if (s.next_slice < 0 && (s.readers > 0 || !s.dk_carry.empty()))
    throw std::logic_error("attention layer: dropping micro-batch " + std::to_string(mb) + " whose keys " +
                           std::to_string(s.readers) + " later slice(s) read, but its data named no next slice "
                           "(MicroBatchData::next_slice_mb), so it would not have kept them");
  for (const KeyChunk& c : s.prefix) --state_[size_t(c.mb)].readers;
  if (s.next_slice < 0) {
    s = State{};
    return;
  }
  State kept;
  kept.k = std::move(s.k);
  kept.v = std::move(s.v);
  kept.tail = std::move(s.tail);
  kept.readers = s.readers;
  kept.dk_carry = std::move(s.dk_carry);
  kept.dv_carry = std::move(s.dv_carry);
  kept.next_slice = s.next_slice;
  s = std::move(kept);
}

template <typename T>
size_t AttentionLayer<T>::saved_bytes() const {
  size_t n = 0;
  for (const State& s : state_)
    n += vector_bytes(s.x, s.rstd, s.q, s.k, s.v, s.probs, s.xn, s.o, s.dy, s.dq, s.dk, s.dv, s.dgain, s.dk_carry,
                      s.dv_carry);
  return n;
}

template <typename T>
size_t AttentionLayer<T>::carried_bytes_besides(int mb) const {
  size_t n = 0;
  for (size_t i = 0; i < state_.size(); ++i)
    if (int(i) != mb) n += vector_bytes(state_[i].dk_carry, state_[i].dv_carry);
  return n;
}

template <typename T>
void AttentionLayer<T>::visit_state(int mb, bool shared_too, const typename Layer<T>::FloatVisitor& f) {
  State& s = state_[mb];
  for (std::vector<T>* v : {&s.x, &s.rstd, &s.q, &s.k, &s.v, &s.probs, &s.xn, &s.o, &s.dy, &s.dq, &s.dk, &s.dv,
                            &s.dgain, &s.dk_carry, &s.dv_carry}) {
    const bool shared = v == &s.k || v == &s.v || v == &s.dk_carry || v == &s.dv_carry;
    if (shared_too || !shared) f(*v);
  }
}

template <typename T>
void AttentionLayer<T>::for_each_saved(int mb, const typename Layer<T>::FloatVisitor& f,
                                const typename Layer<T>::IntVisitor& g) {
  visit_state(mb, true, f);
  (void)g;
}

template <typename T>
void AttentionLayer<T>::for_each_offloadable(int mb, const typename Layer<T>::FloatVisitor& f,
                                             const typename Layer<T>::IntVisitor& g) {
  const State& s = state_[mb];
  // Later slices attend to a read slice's keys and values and add into its carries while it waits: those
  // stay on the device.
  const bool read = s.next_slice >= 0 || s.readers > 0 || !s.dk_carry.empty();
  visit_state(mb, !read, f);
  (void)g;
}

template class AttentionLayer<float>;
template class AttentionLayer<double>;

}  // namespace adaptis::exec
