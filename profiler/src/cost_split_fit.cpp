#include "adaptis/profiler/cost_split_fit.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "adaptis/model/error.h"

namespace adaptis::prof {

namespace {

// One shape in the fit's own variables. With A = R - F - P (the token part), the shape's time is
// F + A t + P q, so ms - R t = F (1 - t) + P (q - t): a line through the origin in (F, P).
struct Row {
  double r = 0, u = 0, v = 0, w2 = 0;  // ms - R t, 1 - t, q - t, 1 / ms^2
};

double objective(const std::vector<Row>& rows, double f, double p) {
  double s = 0;
  for (const Row& x : rows) {
    const double e = x.r - f * x.u - p * x.v;
    s += x.w2 * e * e;
  }
  return s;
}

struct Point {
  double f = 0, p = 0;
};

// The best point on the segment from `a` to `a + d` (the objective is a convex quadratic along it).
Point best_on_segment(const std::vector<Row>& rows, Point a, Point d) {
  double num = 0, den = 0;
  for (const Row& x : rows) {
    const double e = x.r - a.f * x.u - a.p * x.v;
    const double g = d.f * x.u + d.p * x.v;
    num += x.w2 * e * g;
    den += x.w2 * g * g;
  }
  const double s = den > 0 ? std::clamp(num / den, 0.0, 1.0) : 0.0;
  return {a.f + s * d.f, a.p + s * d.p};
}

}  // namespace

CostSplit fit_cost_split(const std::vector<ShapeTime>& shapes, double ref_tokens, double ref_pairs, double ref_ms,
                         bool pairs) {
  if (!(ref_tokens > 0)) throw InputError("fit_cost_split: the reference tokens must be > 0, got " + std::to_string(ref_tokens));
  if (pairs && !(ref_pairs > 0))
    throw InputError("fit_cost_split: a pair part needs reference pairs > 0, got " + std::to_string(ref_pairs));
  CostSplit out;
  if (!(ref_ms > 0) || !std::isfinite(ref_ms)) {
    out.token_ms = ref_ms > 0 ? ref_ms : 0;  // nothing to split (an infinite time stays what it is)
    return out;
  }
  const double R = ref_ms;
  std::vector<Row> rows;
  for (const ShapeTime& s : shapes) {
    if (!(s.ms > 0) || !std::isfinite(s.ms) || !std::isfinite(s.tokens) || !std::isfinite(s.pairs)) continue;
    const double t = s.tokens / ref_tokens, q = pairs ? s.pairs / ref_pairs : 0.0;
    rows.push_back({s.ms - R * t, 1 - t, q - t, 1 / (s.ms * s.ms)});
  }
  if (rows.empty()) {
    out.token_ms = R;
    return out;
  }

  // The feasible set is the triangle F >= 0, P >= 0, F + P <= R (P = 0 without pairs). The objective is
  // convex: its unconstrained minimum when that lies inside, else the best point of the boundary.
  Point best{0, 0};
  double best_obj = std::numeric_limits<double>::infinity();
  auto consider = [&](Point x) {
    const double o = objective(rows, x.f, x.p);
    if (o < best_obj) {
      best_obj = o;
      best = x;
    }
  };
  bool inside = false;
  if (pairs) {
    double suu = 0, suv = 0, svv = 0, sur = 0, svr = 0;
    for (const Row& x : rows) {
      suu += x.w2 * x.u * x.u;
      suv += x.w2 * x.u * x.v;
      svv += x.w2 * x.v * x.v;
      sur += x.w2 * x.u * x.r;
      svr += x.w2 * x.v * x.r;
    }
    const double det = suu * svv - suv * suv;
    if (det > 1e-12 * std::max(suu * svv, std::numeric_limits<double>::min())) {
      const Point x{(sur * svv - svr * suv) / det, (svr * suu - sur * suv) / det};
      if (x.f >= 0 && x.p >= 0 && x.f + x.p <= R) {
        consider(x);
        inside = true;
      }
    }
    if (!inside) {
      consider(best_on_segment(rows, {0, 0}, {0, R}));   // no fixed part
      consider(best_on_segment(rows, {R, 0}, {-R, R}));  // no token part
    }
  }
  if (!inside) consider(best_on_segment(rows, {0, 0}, {R, 0}));  // no pair part
  out.fixed_ms = best.f;
  out.pair_ms = best.p;
  out.token_ms = std::max(0.0, R - best.f - best.p);
  return out;
}

}  // namespace adaptis::prof
