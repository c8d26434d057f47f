// Causal GQA self-attention block with RoPE, F / B / W.
#include "adaptis/executor/layers/attention.h"

#include <cmath>
#include <algorithm>
#include <cstddef>
#include <stdexcept>
#include <string>

#include "adaptis/executor/layers/linear.h"
#include "adaptis/executor/layers/rmsnorm.h"

namespace adaptis::exec {

template <typename T>
AttentionLayer<T>::AttentionLayer(const NetConfig& cfg, int num_microbatches)
    : Layer<T>(LayerType::Attention, cfg, num_microbatches),
      hidden_(cfg.hidden),
      heads_(cfg.heads),
      kv_heads_(cfg.kv_heads),
      head_dim_(cfg.head_dim()),
      batch_(cfg.micro_batch),
      seq_(cfg.seq),
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

template <typename T>
void AttentionLayer<T>::do_forward(int mb, const MicroBatchData& data, const T* p, const T* x, T* y) {
  State& s = state_[mb];
  const int n = this->tokens_, h = hidden_, hd = head_dim_, qw = heads_ * hd, kv = kv_heads_ * hd;
  const int group = heads_ / kv_heads_;
  const T scale = T(1) / std::sqrt(T(hd));
  // Documents of this micro-batch: a variable-length unit's, or micro_batch rows of seq tokens.
  if (!data.docs.empty()) {
    s.docs = data.docs;
    s.first_offset = data.first_doc_offset;
    s.row = data.row;
    s.slice = data.slice;
  } else {
    s.docs.assign(size_t(batch_), seq_);
    s.first_offset = 0;
    s.row = -1;
  }
  if (s.row < 0 && s.first_offset != 0)
    throw std::logic_error("attention layer: micro-batch " + std::to_string(mb) + " continues a document but is no slice of a row");
  s.pos.resize(size_t(n));
  {
    int t = 0;
    for (size_t d = 0; d < s.docs.size(); ++d)
      for (int i = 0; i < s.docs[d]; ++i) s.pos[size_t(t++)] = (d == 0 ? s.first_offset : 0) + i;
    for (int q = 0; q < n; ++q)
      if (s.pos[size_t(q)] >= rope_.seq)
        throw std::logic_error("attention layer: position " + std::to_string(s.pos[size_t(q)]) +
                               " beyond the rotary table of " + std::to_string(rope_.seq) + " positions");
  }
  RowCache* rc = nullptr;
  if (s.row >= 0) {
    rc = &rows_[s.row];
    s.row_base = rc->tokens;
    if (s.first_offset > rc->tokens)
      throw std::logic_error("attention layer: slice " + std::to_string(s.slice) + " of row " + std::to_string(s.row) +
                             " continues " + std::to_string(s.first_offset) + " tokens but the row holds " +
                             std::to_string(rc->tokens) + " (slices out of order)");
  }
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
  rope_apply_at(s.q.data(), rope_, s.pos.data(), n, heads_, false);
  rope_apply_at(s.k.data(), rope_, s.pos.data(), n, kv_heads_, false);

  // Probabilities of query i of a document piece with o earlier keys: o + i + 1 entries.
  size_t probs = 0;
  for (size_t d = 0; d < s.docs.size(); ++d) {
    const size_t l = size_t(s.docs[d]), o = d == 0 ? size_t(s.first_offset) : 0;
    probs += size_t(heads_) * (l * o + l * (l + 1) / 2);
  }
  s.probs.assign(probs, T(0));
  s.o.assign(size_t(n) * qw, T(0));
  size_t pbase = 0;
  int start = 0;  // first token of the piece in this micro-batch
  for (size_t d = 0; d < s.docs.size(); ++d) {
    const int len = s.docs[d], off = d == 0 ? s.first_offset : 0;
    const int cache0 = s.row_base - off;  // the piece's earlier keys in the row cache
    for (int hh = 0; hh < heads_; ++hh) {
      const int kh = hh / group;
      for (int i = 0; i < len; ++i) {
        const T* qi = s.q.data() + (size_t(start + i) * heads_ + hh) * hd;
        T* pi = s.probs.data() + pbase;
        pbase += size_t(off + i + 1);
        auto key = [&](int j) {
          return j < off ? rc->k.data() + (size_t(cache0 + j) * kv_heads_ + kh) * hd
                         : s.k.data() + (size_t(start + j - off) * kv_heads_ + kh) * hd;
        };
        auto value = [&](int j) {
          return j < off ? rc->v.data() + (size_t(cache0 + j) * kv_heads_ + kh) * hd
                         : s.v.data() + (size_t(start + j - off) * kv_heads_ + kh) * hd;
        };
        T mx = -INFINITY;
        for (int j = 0; j <= off + i; ++j) {
          const T* kj = key(j);
          T dot = 0;
          for (int e = 0; e < hd; ++e) dot += qi[e] * kj[e];
          pi[j] = dot * scale;
          if (pi[j] > mx) mx = pi[j];
        }
        T sum = 0;
        for (int j = 0; j <= off + i; ++j) {
          pi[j] = std::exp(pi[j] - mx);
          sum += pi[j];
        }
        const T inv = T(1) / sum;
        for (int j = 0; j <= off + i; ++j) pi[j] *= inv;
        T* oi = s.o.data() + (size_t(start + i) * heads_ + hh) * hd;
        for (int j = 0; j <= off + i; ++j) {
          const T* vj = value(j);
          for (int e = 0; e < hd; ++e) oi[e] += pi[j] * vj[e];
        }
      }
    }
    start += len;
  }
  if (rc) {  // later slices of the row attend to these keys/values
    rc->k.insert(rc->k.end(), s.k.begin(), s.k.end());
    rc->v.insert(rc->v.end(), s.v.begin(), s.v.end());
    rc->tokens += n;
  }
  linear_forward(y, s.o.data(), p + this->offset(kWo), n, qw, h);
  for (size_t i = 0; i < size_t(n) * h; ++i) y[i] += s.x[i];  // s.x: y may alias x
}

template <typename T>
void AttentionLayer<T>::do_backward_input(int mb, const T* p, const T* dy, T* dx) {
  State& s = state_[mb];
  const int n = this->tokens_, h = hidden_, hd = head_dim_, qw = heads_ * hd, kv = kv_heads_ * hd;
  const int group = heads_ / kv_heads_;
  const T scale = T(1) / std::sqrt(T(hd));
  s.dy.assign(dy, dy + size_t(n) * h);
  std::vector<T> d_o(size_t(n) * qw);
  linear_backward_input(d_o.data(), dy, p + this->offset(kWo), n, qw, h, false);

  s.dq.assign(size_t(n) * qw, T(0));
  s.dk.assign(size_t(n) * kv, T(0));
  s.dv.assign(size_t(n) * kv, T(0));
  RowCache* rc = nullptr;
  if (s.row >= 0) {
    auto it = rows_.find(s.row);
    if (it == rows_.end()) throw std::logic_error("attention layer: row " + std::to_string(s.row) + " has no cache");
    rc = &it->second;
    if (rc->dk.size() < size_t(rc->tokens) * kv) {
      rc->dk.resize(size_t(rc->tokens) * kv, T(0));
      rc->dv.resize(size_t(rc->tokens) * kv, T(0));
    }
    // What the later slices' queries sent back to this slice's keys/values (their backwards ran first).
    for (size_t i = 0; i < size_t(n) * kv; ++i) {
      s.dk[i] += rc->dk[size_t(s.row_base) * kv + i];
      s.dv[i] += rc->dv[size_t(s.row_base) * kv + i];
    }
  }
  int longest = 0;
  for (size_t d = 0; d < s.docs.size(); ++d) longest = std::max(longest, s.docs[d] + (d == 0 ? s.first_offset : 0));
  std::vector<T> dp(static_cast<size_t>(longest));
  size_t pbase = 0;
  int start = 0;
  for (size_t d = 0; d < s.docs.size(); ++d) {
    const int len = s.docs[d], off = d == 0 ? s.first_offset : 0;
    const int cache0 = s.row_base - off;
    for (int hh = 0; hh < heads_; ++hh) {
      const int kh = hh / group;
      for (int i = 0; i < len; ++i) {
        const size_t qrow = (size_t(start + i) * heads_ + hh) * hd;
        const T* doi = d_o.data() + qrow;
        const T* qi = s.q.data() + qrow;
        T* dqi = s.dq.data() + qrow;
        const T* pi = s.probs.data() + pbase;
        pbase += size_t(off + i + 1);
        auto krow = [&](int j) {
          return j < off ? (size_t(cache0 + j) * kv_heads_ + kh) * hd : (size_t(start + j - off) * kv_heads_ + kh) * hd;
        };
        // dP_ij = do_i . v_j ; dv_j += P_ij do_i (into the row cache for keys of earlier slices)
        T rowdot = 0;
        for (int j = 0; j <= off + i; ++j) {
          const size_t kr = krow(j);
          const T* vj = (j < off ? rc->v.data() : s.v.data()) + kr;
          T* dvj = (j < off ? rc->dv.data() : s.dv.data()) + kr;
          T dd = 0;
          for (int e = 0; e < hd; ++e) {
            dd += doi[e] * vj[e];
            dvj[e] += pi[j] * doi[e];
          }
          dp[j] = dd;
          rowdot += pi[j] * dd;
        }
        // Softmax backward: dS_ij = P_ij (dP_ij - sum_j' P_ij' dP_ij'); then the scaled q k^T products.
        for (int j = 0; j <= off + i; ++j) {
          const T ds = pi[j] * (dp[j] - rowdot) * scale;
          const size_t kr = krow(j);
          const T* kj = (j < off ? rc->k.data() : s.k.data()) + kr;
          T* dkj = (j < off ? rc->dk.data() : s.dk.data()) + kr;
          for (int e = 0; e < hd; ++e) {
            dqi[e] += ds * kj[e];
            dkj[e] += ds * qi[e];
          }
        }
      }
    }
    start += len;
  }
  // Undo the rotation on the gradients: dq, dk become the output gradients of the Wq / Wk linears.
  rope_apply_at(s.dq.data(), rope_, s.pos.data(), n, heads_, true);
  rope_apply_at(s.dk.data(), rope_, s.pos.data(), n, kv_heads_, true);

  std::vector<T> dxn(size_t(n) * h);
  linear_backward_input(dxn.data(), s.dq.data(), p + this->offset(kWq), n, h, qw, false);
  linear_backward_input(dxn.data(), s.dk.data(), p + this->offset(kWk), n, h, kv, true);
  linear_backward_input(dxn.data(), s.dv.data(), p + this->offset(kWv), n, h, kv, true);
  for (size_t i = 0; i < size_t(n) * h; ++i) dx[i] = dy[i];
  rmsnorm_backward_input(dx, dxn.data(), s.x.data(), s.rstd.data(), p + this->offset(kGain), n, h);
  s.dgain.assign(size_t(h), T(0));
  rmsnorm_backward_gain(s.dgain.data(), dxn.data(), s.x.data(), s.rstd.data(), n, h);
  release(s.x);
  release(s.rstd);
  release(s.q);
  release(s.k);
  release(s.v);
  release(s.probs);
  release(s.pos);
  // Slice 0's backward is the row's last: its cache is no longer needed.
  if (rc && s.slice == 0) rows_.erase(s.row);
}

template <typename T>
void AttentionLayer<T>::do_backward_weight(int mb, T* g) {
  State& s = state_[mb];
  const int n = this->tokens_, h = hidden_, qw = heads_ * head_dim_, kv = kv_heads_ * head_dim_;
  for (int i = 0; i < h; ++i) g[this->offset(kGain) + i] += s.dgain[i];
  linear_backward_weight(g + this->offset(kWq), s.dq.data(), s.xn.data(), n, h, qw);
  linear_backward_weight(g + this->offset(kWk), s.dk.data(), s.xn.data(), n, h, kv);
  linear_backward_weight(g + this->offset(kWv), s.dv.data(), s.xn.data(), n, h, kv);
  linear_backward_weight(g + this->offset(kWo), s.dy.data(), s.o.data(), n, qw, h);
  state_[mb] = State{};
}

template <typename T>
size_t AttentionLayer<T>::saved_bytes() const {
  size_t n = 0;
  for (const State& s : state_)
    n += vector_bytes(s.x, s.rstd, s.q, s.k, s.v, s.probs, s.xn, s.o, s.dy, s.dq, s.dk, s.dv, s.dgain);
  for (const auto& [row, c] : rows_) n += vector_bytes(c.k, c.v, c.dk, c.dv);
  return n;
}

template class AttentionLayer<float>;
template class AttentionLayer<double>;

}  // namespace adaptis::exec
