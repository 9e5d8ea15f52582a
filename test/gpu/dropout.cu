// The dropout block (softmax/dropout.cuh) on its own: the kept fraction matches 1 − p, masks
// differ between seeds, offsets, heads and batch entries, and the two per-fragment visitors
// the kernels use give exactly the decisions of the element-wise DropoutMask::keep.

#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include <catch2/catch_test_macros.hpp>

#include "attnkit/mma/register_tile.cuh"
#include "attnkit/softmax/dropout.cuh"
#include "support/device_array.cuh"
#include "support/dropout_factors.cuh"

namespace {

using namespace attnkit;
using namespace attnkit::testing;

AttentionProblem mask_problem(float probability, uint64_t seed, uint32_t offset, int batch, int heads, int seqlen_q,
                              int seqlen_k) {
  AttentionProblem problem;
  problem.batch = batch;
  problem.heads_q = problem.heads_kv = heads;
  problem.seqlen_q = seqlen_q;
  problem.seqlen_k = seqlen_k;
  problem.dropout = {probability, seed, offset};
  return problem;
}

double kept_fraction(const std::vector<uint8_t>& flags, std::size_t begin, std::size_t end) {
  std::size_t kept = 0;
  for (std::size_t i = begin; i < end; ++i) kept += flags[i];
  return double(kept) / double(end - begin);
}

// One warp visits a (16·MTiles × 16·NTiles) tile at (row0, col0) both ways and records each
// decision at its (query, key): rows are queries for the forward visitor, keys for the backward one.
using VisitTile = AccumulatorTile<2, 4>;

__global__ void visit_kernel(DropoutParams dropout, int row0, int col0, int seqlen_k, uint8_t* rows_queries,
                             uint8_t* rows_keys) {
  const int lane = threadIdx.x;
  const DropoutMask mask(dropout.seed, dropout.offset, dropout_threshold(dropout.probability), 5);
  mask.for_each_rows_queries<VisitTile>(lane, row0, col0, [&](int m, int n, int i, bool keep) {
    const layout::Coord c = layout::mma_c_coord(lane, i);
    rows_queries[(row0 + m * 16 + c.row) * seqlen_k + col0 + n * 8 + c.col] = keep ? 1 : 0;
  });
  // The same square region seen transposed: tile rows are keys col0.., columns queries row0...
  mask.for_each_rows_keys<VisitTile>(lane, col0, row0, [&](int m, int n, int i, bool keep) {
    const layout::Coord c = layout::mma_c_coord(lane, i);
    rows_keys[(row0 + n * 8 + c.col) * seqlen_k + col0 + m * 16 + c.row] = keep ? 1 : 0;
  });
}

}  // namespace

TEST_CASE("dropout keeps a fraction 1 - p of the elements", "[dropout]") {
  for (const float p : {0.1f, 0.5f, 0.9f}) {
    const AttentionProblem problem = mask_problem(p, 1234, 0, 2, 3, 1000, 1000);
    const DropoutFactors factors(problem);
    const double n = double(factors.flags().size());
    const double fraction = kept_fraction(factors.flags(), 0, factors.flags().size());
    const double sigma = std::sqrt(p * (1 - p) / n);
    INFO("p = " << p << ": kept " << fraction << " of " << n << " elements, sigma " << sigma);
    CHECK(std::abs(fraction - (1.0 - p)) < 5 * sigma);
    // Every (entry, head) on its own too: a stream that repeated across heads would still pass above.
    const std::size_t per_head = std::size_t(1000) * 1000;
    for (std::size_t head = 0; head < 6; ++head) {
      const double head_fraction = kept_fraction(factors.flags(), head * per_head, (head + 1) * per_head);
      CHECK(std::abs(head_fraction - (1.0 - p)) < 5 * std::sqrt(p * (1 - p) / per_head));
    }
  }
}

TEST_CASE("dropout masks of different seeds, offsets, heads and entries are independent", "[dropout]") {
  const float p = 0.5f;
  const int seqlen = 512;
  const std::size_t per_head = std::size_t(seqlen) * seqlen;
  const DropoutFactors base(mask_problem(p, 77, 3, 2, 2, seqlen, seqlen));
  const DropoutFactors other_seed(mask_problem(p, 78, 3, 2, 2, seqlen, seqlen));
  const DropoutFactors other_offset(mask_problem(p, 77, 4, 2, 2, seqlen, seqlen));
  const DropoutFactors same(mask_problem(p, 77, 3, 2, 2, seqlen, seqlen));
  auto agreement = [&](const DropoutFactors& a, std::size_t a_head, const DropoutFactors& b, std::size_t b_head) {
    std::size_t equal = 0;
    for (std::size_t i = 0; i < per_head; ++i)
      equal += a.flags()[a_head * per_head + i] == b.flags()[b_head * per_head + i];
    return double(equal) / per_head;
  };
  // Independent masks at p = 1/2 agree on half the elements.
  const double tolerance = 5 * 0.5 / std::sqrt(double(per_head));
  CHECK(agreement(base, 0, same, 0) == 1.0);
  CHECK(std::abs(agreement(base, 0, other_seed, 0) - 0.5) < tolerance);
  CHECK(std::abs(agreement(base, 0, other_offset, 0) - 0.5) < tolerance);
  CHECK(std::abs(agreement(base, 0, base, 1) - 0.5) < tolerance);  // head 0 vs head 1
  CHECK(std::abs(agreement(base, 0, base, 2) - 0.5) < tolerance);  // entry 0 vs entry 1
}

TEST_CASE("dropout's fragment visitors agree with DropoutMask::keep", "[dropout]") {
  const int seqlen = 128;
  const AttentionProblem problem = mask_problem(0.3f, 99, 11, 1, 6, seqlen, seqlen);
  const DropoutFactors element_wise(problem);  // stream 5 = head 5 of entry 0
  const std::size_t head5 = std::size_t(5) * seqlen * seqlen;
  for (const auto [row0, col0] : {std::pair{0, 0}, std::pair{32, 64}, std::pair{96, 16}}) {
    DeviceArray<uint8_t> rows_queries(std::size_t(seqlen) * seqlen), rows_keys(std::size_t(seqlen) * seqlen);
    visit_kernel<<<1, 32>>>(problem.dropout, row0, col0, seqlen, rows_queries.get(), rows_keys.get());
    ATTNKIT_CHECK_LAUNCH();
    const std::vector<uint8_t> forward = rows_queries.download(), backward = rows_keys.download();
    int forward_mismatches = 0, backward_mismatches = 0;
    for (int q = row0; q < row0 + 32; ++q)
      for (int k = col0; k < col0 + 32; ++k) {
        const uint8_t expected = element_wise.flags()[head5 + std::size_t(q) * seqlen + k];
        forward_mismatches += forward[std::size_t(q) * seqlen + k] != expected;
        backward_mismatches += backward[std::size_t(q) * seqlen + k] != expected;
      }
    INFO("tile at (" << row0 << ", " << col0 << ")");
    CHECK(forward_mismatches == 0);
    CHECK(backward_mismatches == 0);
  }
}
