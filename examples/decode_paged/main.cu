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
#include <attnkit/reference/cpu_attention.cuh>
#include <attnkit/reference/host_tensor.cuh>

using attnkit::bfloat16_t;

namespace {

constexpr int kHeadsQ = 32, kHeadsKV = 8, kHeadDim = 128, kPageSize = 16;

template <class T>
T* upload(const std::vector<T>& host) {
  T* device = nullptr;
  ATTNKIT_CUDA_CHECK(cudaMalloc(&device, host.size() * sizeof(T)));
  ATTNKIT_CUDA_CHECK(cudaMemcpy(device, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  return device;
}

template <class T>
std::vector<T> download(const T* device, size_t count) {
  std::vector<T> host(count);
  ATTNKIT_CUDA_CHECK(cudaMemcpy(host.data(), device, count * sizeof(T), cudaMemcpyDeviceToHost));
  return host;
}

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
  bfloat16_t* k_cache = upload(random_bf16(cache_elements, 1));  // the prompt's keys and values
  bfloat16_t* v_cache = upload(random_bf16(cache_elements, 2));
  int* block_table = upload(table);
  int* seqlens = upload(prompt);
  bfloat16_t *q = nullptr, *o = nullptr, *k_new = nullptr, *v_new = nullptr;
  const size_t q_elements = size_t(batch) * kHeadsQ * kHeadDim, kv_elements = size_t(batch) * kHeadsKV * kHeadDim;
  ATTNKIT_CUDA_CHECK(cudaMalloc(&o, q_elements * sizeof(bfloat16_t)));

  attnkit::DecodeProblem problem = attnkit::make_decode_problem(
      attnkit::DType::bf16, batch, kHeadsQ, /*seqlen_q=*/1, kHeadDim, nullptr, o,
      attnkit::make_paged_kv_cache(k_cache, v_cache, num_pages, kPageSize, kHeadsKV, kHeadDim, block_table, max_pages,
                                   seqlens),
      kHeadsKV);
  problem.band = attnkit::BandMask::causal();

  std::vector<int> lengths = prompt;
  std::vector<bfloat16_t> last_q;
  for (int step = 0; step < steps; ++step) {
    // This step's query and new key/value per sequence (a model's projections would make them).
    last_q = random_bf16(q_elements, 100 + step);
    cudaFree(q), cudaFree(k_new), cudaFree(v_new);
    q = upload(last_q);
    k_new = upload(random_bf16(kv_elements, 200 + step));
    v_new = upload(random_bf16(kv_elements, 300 + step));
    problem.q.data = q;
    attnkit::set_appended_kv(problem, k_new, v_new, 1);
    problem.host_seqlens = lengths.data();  // known here: the launcher checks them against the pages

    attnkit::decode<bfloat16_t, kHeadDim>(problem);  // append, attend; split-KV when the batch is small

    for (int& length : lengths) ++length;
    ATTNKIT_CUDA_CHECK(cudaMemcpy(seqlens, lengths.data(), batch * sizeof(int), cudaMemcpyHostToDevice));
  }
  ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());

  // The reference for the last step: each sequence's keys read back through its pages.
  const std::vector<bfloat16_t> k_host = download(k_cache, cache_elements), v_host = download(v_cache, cache_elements);
  const std::vector<bfloat16_t> o_host = download(o, q_elements);
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
  for (void* p : {static_cast<void*>(k_cache), static_cast<void*>(v_cache), static_cast<void*>(block_table),
                  static_cast<void*>(seqlens), static_cast<void*>(q), static_cast<void*>(o), static_cast<void*>(k_new),
                  static_cast<void*>(v_new)})
    cudaFree(p);
  return ok ? 0 : 1;
}
