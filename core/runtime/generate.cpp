#include "core/runtime/generate.h"

#include <algorithm>
#include <chrono>

#include "core/runtime/step_sampler.h"

namespace mlxr {
namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// One sequence owning blocks 0..n-1 of the arena in order.
std::vector<int32_t> identity_table(const KVLayout& kv, int n_ctx) {
  const int n = std::min(kv.n_blocks, (n_ctx + kv.block_size - 1) / kv.block_size);
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) t[i] = i;
  return t;
}

void fill_batch(Batch& b, const std::vector<int32_t>& table, const int32_t* tokens, int n, int start_pos, bool all_logits) {
  b.clear();
  b.block_tables.push_back(table);
  b.seq_lens.push_back(start_pos + n);
  for (int i = 0; i < n; ++i) {
    b.tokens.push_back(tokens[i]);
    b.positions.push_back(start_pos + i);
    b.seq_of.push_back(0);
    if (all_logits) b.output_rows.push_back(i);
  }
  if (!all_logits) b.output_rows.push_back(n - 1);
}

}  // namespace

Expected<GenerateOutput> generate(ModelRunner& runner, const std::vector<int32_t>& prompt,
                                  const GenerateOptions& opts,
                                  const std::function<bool(const SampleResult&)>& on_token) {
  if (prompt.empty()) return make_error("generate: the prompt is empty (no tokens)");
  MLXR_RETURN_IF_ERROR(Sampler::validate(opts.sampling));
  const KVLayout& kv = runner.kv_layout();
  const int capacity = std::min(runner.n_ctx(), kv.n_blocks * kv.block_size);
  if (static_cast<int>(prompt.size()) >= capacity)
    return make_error("generate: prompt of " + std::to_string(prompt.size()) + " tokens does not fit the context of " + std::to_string(capacity) + " tokens");
  const int n_vocab = runner.hparams().n_vocab;
  const auto table = identity_table(kv, capacity);
  Sampler sampler(opts.sampling);
  StepSampler step_sampler(runner.backend());
  std::vector<SampleResult> results;
  GenerateOutput out;
  std::vector<int32_t> history = prompt;
  Batch batch;
  const float* logits = nullptr;  // backend memory: the last forward's row

  auto t0 = std::chrono::steady_clock::now();
  const int chunk = std::max(1, opts.prefill_chunk);
  for (size_t pos = 0; pos < prompt.size(); pos += chunk) {
    const int n = static_cast<int>(std::min<size_t>(chunk, prompt.size() - pos));
    fill_batch(batch, table, prompt.data() + pos, n, static_cast<int>(pos), false);
    MLXR_ASSIGN_OR_RETURN(logits, runner.model().forward_logits(batch));
  }
  runner.backend().sync();  // the prompt's GPU work counts as prompt time
  out.timings.prompt_ms = ms_since(t0);
  out.timings.prompt_tokens = static_cast<int>(prompt.size());

  auto t1 = std::chrono::steady_clock::now();
  out.stop_reason = "length";
  for (int i = 0; i < opts.max_tokens; ++i) {
    const StepSampler::Row row{&sampler, history};
    MLXR_RETURN_IF_ERROR(step_sampler.sample(logits, n_vocab, std::span(&row, 1), results));
    SampleResult r = std::move(results[0]);
    out.tokens.push_back(r.token);
    history.push_back(r.token);
    const bool eog = opts.stop_at_eog && runner.tokenizer().is_eog(r.token);
    const bool keep_going = on_token ? on_token(r) : true;
    out.samples.push_back(std::move(r));
    if (eog) {
      out.stop_reason = "eog";
      break;
    }
    if (!keep_going) {
      out.stop_reason = "callback";
      break;
    }
    if (i + 1 == opts.max_tokens) break;
    const int pos = static_cast<int>(history.size()) - 1;
    if (pos >= capacity) {
      out.stop_reason = "context";
      break;
    }
    fill_batch(batch, table, &history.back(), 1, pos, false);
    MLXR_ASSIGN_OR_RETURN(logits, runner.model().forward_logits(batch));
  }
  out.timings.decode_ms = ms_since(t1);
  out.timings.generated_tokens = static_cast<int>(out.tokens.size());
  return out;
}

Expected<std::vector<float>> prompt_logits(ModelRunner& runner, const std::vector<int32_t>& prompt) {
  if (prompt.empty()) return make_error("prompt_logits: empty prompt");
  const KVLayout& kv = runner.kv_layout();
  const int capacity = std::min(runner.n_ctx(), kv.n_blocks * kv.block_size);
  if (static_cast<int>(prompt.size()) > capacity) return make_error("prompt_logits: prompt longer than the context");
  const int n_vocab = runner.hparams().n_vocab;
  std::vector<float> logits(prompt.size() * static_cast<size_t>(n_vocab));
  Batch batch;
  fill_batch(batch, identity_table(kv, capacity), prompt.data(), static_cast<int>(prompt.size()), 0, true);
  MLXR_RETURN_IF_ERROR(runner.model().forward(batch, logits.data()));
  return logits;
}

}  // namespace mlxr
