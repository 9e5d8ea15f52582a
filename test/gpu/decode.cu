// Decode over a KV cache: variants (soft-capping, ALiBi per sequence), bad input, and page
// indices out of range in device memory; the per-head-dim matrices are in decode_d*.cu
// (linked into the same executable).

#include <string>
#include <vector>

#include <catch2/matchers/catch_matchers_string.hpp>

#include "attnkit/mask/alibi.cuh"
#include "attnkit/mask/softcap.cuh"
#include "decode_cases.cuh"

namespace {

using namespace attnkit;
using namespace attnkit::testing;
using Catch::Matchers::ContainsSubstring;

std::vector<DecodeCase> variant_decode_cases() {
  std::vector<DecodeCase> cases;
  DecodeCase c;
  c.cached = {300, 17, 129};  // uneven: ALiBi must align each sequence by its own length
  c.seqlen_q = 4;
  c.append = true;
  c.band = BandMask::causal();
  c.seed = 900;
  cases.push_back(c);
  c.band = BandMask::none();
  c.splits = 5;
  c.seed = 910;
  cases.push_back(c);
  return cases;
}

}  // namespace

TEST_CASE("decode variants: soft-capping, ALiBi per sequence", "[decode][variant]") {
  for (const DecodeCase& c : variant_decode_cases()) {
    const SoftCap softcap{{}, 5.f};
    check_decode<bfloat16_t>(128, c, decode_launcher<bfloat16_t, 128>(softcap), softcap);

    std::vector<float> slopes(c.heads_q);
    for (int h = 0; h < c.heads_q; ++h) slopes[h] = 0.05f * (h + 1);
    DeviceArray<float> slopes_device(slopes);
    Alibi device_alibi, host_alibi;
    device_alibi.slopes = slopes_device.get();
    host_alibi.slopes = slopes.data();
    check_decode<half_t>(128, c, decode_launcher<half_t, 128>(device_alibi), host_alibi);
  }
}

namespace {

// A small valid problem whose pieces a test then breaks.
struct SmallDecode {
  DeviceArray<bfloat16_t> k{4 * 16 * 2 * 128}, v{4 * 16 * 2 * 128}, q{2 * 8 * 128}, o{2 * 8 * 128};
  DeviceArray<int> table{std::vector<int>{0, 1, 2, 3}}, seqlens{std::vector<int>{20, 5}};
  std::vector<int> host_seqlens{20, 5};
  DecodeProblem problem;
  SmallDecode() {
    for (DeviceArray<bfloat16_t>* a : {&k, &v, &q}) a->upload(std::vector<bfloat16_t>(a->size(), from_float<bfloat16_t>(0.5f)));
    // 4 pages of 16 rows, two sequences of at most 2 pages each.
    const KVCache cache = make_paged_kv_cache(k.get(), v.get(), 4, 16, 2, 128, table.get(), 2, seqlens.get());
    problem = make_decode_problem(DType::bf16, 2, 8, 1, 128, q.get(), o.get(), cache, 2);
    problem.host_seqlens = host_seqlens.data();
  }
};

void run(const DecodeProblem& p) { decode<bfloat16_t, 128>(p); }

}  // namespace

TEST_CASE("decode rejects bad input with a message naming the value", "[decode][errors]") {
  {
    SmallDecode s;
    s.host_seqlens[0] = 32;  // a full sequence: one more token does not fit two pages of 16
    set_appended_kv(s.problem, s.q.get(), s.q.get(), 1);
    REQUIRE_THROWS_WITH(run(s.problem), ContainsSubstring("cache_seqlens[0] = 32") &&
                                            ContainsSubstring("exceeds the cache's capacity of 32"));
  }
  {
    SmallDecode s;  // a block table too narrow for a length
    s.problem.cache.max_pages_per_sequence = 1;
    REQUIRE_THROWS_WITH(run(s.problem), ContainsSubstring("cache_seqlens[0] = 20"));
  }
  {
    SmallDecode s;
    REQUIRE_THROWS_WITH((decode<half_t, 128>(s.problem)), ContainsSubstring("dtype bf16"));
    REQUIRE_THROWS_WITH((decode<bfloat16_t, 64>(s.problem)), ContainsSubstring("head_dim = 128"));
  }
  {
    SmallDecode s;
    s.problem.seqlen_q = 0;
    REQUIRE_THROWS_WITH(run(s.problem), ContainsSubstring("seqlen_q = 0"));
  }
  {
    SmallDecode s;
    s.problem.heads_q = 7;
    REQUIRE_THROWS_WITH(run(s.problem), ContainsSubstring("heads_q = 7"));
  }
  {
    SmallDecode s;
    s.problem.rotary.cos = s.q.get();
    s.problem.rotary.sin = s.q.get();
    s.problem.rotary.dim = 7;
    s.problem.rotary.positions = 64;
    REQUIRE_THROWS_WITH(run(s.problem), ContainsSubstring("rotary.dim = 7"));
  }
  {
    SmallDecode s;
    s.problem.cache.seqlens = nullptr;
    REQUIRE_THROWS_WITH(run(s.problem), ContainsSubstring("cache.seqlens"));
  }
  {
    SmallDecode s;
    DecodeOptions options;
    options.splits = -1;
    REQUIRE_THROWS_WITH((decode<bfloat16_t, 128>(s.problem, NoVariant{}, options)), ContainsSubstring("splits = -1"));
  }
  ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());  // nothing was launched, nothing failed
}

TEST_CASE("decode never leaves the cache on page indices out of range", "[decode][errors]") {
  // Entries past num_pages, negative, and lengths beyond the table (no host copy to check
  // them): the call completes, the context stays usable, the outputs are finite.
  SmallDecode s;
  s.table.upload({1 << 30, -7, 2, 3});
  s.seqlens.upload({40, 5});  // past the two pages a sequence has
  s.problem.host_seqlens = nullptr;
  for (int splits : {1, 3}) {
    DecodeOptions options;
    options.splits = splits;
    decode<bfloat16_t, 128>(s.problem, NoVariant{}, options);
    ATTNKIT_CUDA_CHECK(cudaDeviceSynchronize());
    for (float x : to_doubles(s.o.download())) REQUIRE(std::isfinite(x));
  }
}
