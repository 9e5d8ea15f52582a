// Decoding over a paged KV cache, as a serving loop runs it: four sequences of different
// lengths share one pool of 16-row pages (handed out in no particular order), and each step
// appends one new token per sequence (its key and value written into the cache by the same
// call) and attends over everything cached. After the last step, sequence by sequence, the
// output is compared with the float64 reference over the keys read back from the pages.
//
// Exits 0 when the results match, 1 when they do not, 77 when there is no GPU to run on.

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <random>
#include <vector>

#include <cuda_runtime_api.h>

#include <attnkit/decode/decode.cuh>
#include <attnkit/host/device_buffer.cuh>
#include <attnkit/reference/cpu_attention.cuh>
#include <attnkit/reference/host_tensor.cuh>

using attnkit::bfloat16_t;

namespace {

constexpr int kHeadsQ = 32, kHeadsKV = 8, kHeadDim = 128, kPageSize = 16;

std::vector<bfloat16_t> random_bf16(size_t count, uint64_t seed) {
  std::vector<double> values = attnkit::reference::random_normal(count, seed);
  std::vector<bfloat16_t> out(count);
  for (size_t i = 0; i < count; ++i) out[i] = attnkit::from_float<bfloat16_t>(static_cast<float>(values[i]));
  return out;
}

}  // namespace

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("decode_paged: no CUDA device, nothing run\n");
    return 77;
  }
  const std::vector<int> prompt = {1000, 37, 300, 16};  // tokens already cached per sequence
  const int batch = static_cast<int>(prompt.size()), steps = 8;

  // The page pool and each sequence's row of the block table: enough pages for the prompt
  // and the steps, drawn from a shuffled pool.
  const int max_pages = (*std::max_element(prompt.begin(), prompt.end()) + steps + kPageSize - 1) / kPageSize;
  const int num_pages = batch * max_pages;
  std::vector<int> pool(num_pages), table(batch * max_pages);
  std::iota(pool.begin(), pool.end(), 0);
  std::shuffle(pool.begin(), pool.end(), std::mt19937(3));
  std::copy(pool.begin(), pool.end(), table.begin());

  const size_t cache_elements = size_t(num_pages) * kPageSize * kHeadsKV * kHeadDim;
  using Buffer = attnkit::DeviceBuffer<bfloat16_t>;
  const Buffer k_cache(random_bf16(cache_elements, 1)), v_cache(random_bf16(cache_elements, 2));  // the prompt's
  const attnkit::DeviceBuffer<int> block_table(table);
  attnkit::DeviceBuffer<int> seqlens(prompt);
  const size_t q_elements = size_t(batch) * kHeadsQ * kHeadDim, kv_elements = size_t(batch) * kHeadsKV * kHeadDim;
  Buffer q(q_elements), o(q_elements), k_new(kv_elements), v_new(kv_elements);

  attnkit::DecodeProblem problem = attnkit::make_decode_problem(
      attnkit::DType::bf16, batch, kHeadsQ, /*seqlen_q=*/1, kHeadDim, q.get(), o.get(),
      attnkit::make_paged_kv_cache(k_cache.get(), v_cache.get(), num_pages, kPageSize, kHeadsKV, kHeadDim,
                                   block_table.get(), max_pages, seqlens.get()),
      kHeadsKV);
  attnkit::set_appended_kv(problem, k_new.get(), v_new.get(), 1);
  problem.band = attnkit::BandMask::causal();

  std::vector<int> lengths = prompt;
  std::vector<bfloat16_t> last_q;
  for (int step = 0; step < steps; ++step) {
    // This step's query and new key/value per sequence (a model's projections would make them).
    // (The copies wait for the previous step: all of it runs on the default stream.)
    last_q = random_bf16(q_elements, 100 + step);
    q.upload(last_q);
    k_new.upload(random_bf16(kv_elements, 200 + step));
    v_new.upload(random_bf16(kv_elements, 300 + step));
    problem.host_seqlens = lengths.data();  // known here: the launcher checks them against the pages

    attnkit::decode<bfloat16_t, kHeadDim>(problem);  // append, attend; split-KV when the batch is small

    for (int& length : lengths) ++length;
    seqlens.upload(lengths);
  }
  ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());

  // The reference for the last step: each sequence's keys read back through its pages.
  const std::vector<bfloat16_t> k_host = k_cache.download(), v_host = v_cache.download(), o_host = o.download();
  double worst = 0.0;
  for (int b = 0; b < batch; ++b) {
    const int keys = lengths[b];
    const auto shape = attnkit::reference::Shape::dense(1, kHeadsQ, kHeadsKV, 1, keys, kHeadDim, attnkit::BandMask::causal());
    std::vector<double> qb(kHeadsQ * kHeadDim), kb(size_t(keys) * kHeadsKV * kHeadDim), vb(kb.size()), ob(qb.size());
    for (size_t i = 0; i < qb.size(); ++i) {
      qb[i] = attnkit::to_float(last_q[b * qb.size() + i]);
      ob[i] = attnkit::to_float(o_host[b * qb.size() + i]);
    }
    for (int j = 0; j < keys; ++j) {
      const size_t row = size_t(table[b * max_pages + j / kPageSize]) * kPageSize + j % kPageSize;
      for (int e = 0; e < kHeadsKV * kHeadDim; ++e) {
        kb[size_t(j) * kHeadsKV * kHeadDim + e] = attnkit::to_float(k_host[row * kHeadsKV * kHeadDim + e]);
        vb[size_t(j) * kHeadsKV * kHeadDim + e] = attnkit::to_float(v_host[row * kHeadsKV * kHeadDim + e]);
      }
    }
    const auto expected = attnkit::reference::forward(shape, qb, kb, vb);
    worst = std::max(worst, attnkit::reference::max_abs_diff(ob, expected.o));
  }
  const bool ok = worst < 2e-2;
  std::printf("decode_paged: %d steps over %d sequences (%d-row pages): max |O - O_ref| = %.2e %s\n", steps, batch,
              kPageSize, worst, ok ? "(ok)" : "(FAILED)");
  return ok ? 0 : 1;
}
