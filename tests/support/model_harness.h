// A model on the CPU backend with an F32 KV arena, without a tokenizer: for tests that feed
// token ids and compare logits against references.
#pragma once
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/kernels/cpu/cpu_backend.h"
#include "core/models/model.h"

namespace mlxr::testing {

struct LoadedModel {
  std::shared_ptr<ModelFile> file;
  std::unique_ptr<CpuBackend> backend;
  std::unique_ptr<Model> model;
};

inline LoadedModel load_for_test(const std::string& path, int n_ctx) {
  LoadedModel l;
  auto f = open_model(path);
  EXPECT_TRUE(f) << f.error();
  if (!f) return l;
  l.file = *f;
  l.backend = std::make_unique<CpuBackend>(2);
  auto m = load_model(l.file, *l.backend);
  EXPECT_TRUE(m) << m.error();
  if (!m) return l;
  l.model = std::move(*m);
  const auto& hp = l.file->hparams;
  KVLayout kv{hp.n_layer, (n_ctx + 15) / 16, 16, hp.n_head_kv, hp.head_dim, DType::F32};
  EXPECT_TRUE(l.backend->init_kv(kv).is_ok());
  return l;
}

// One sequence in blocks 0, 1, ...: `ids` at positions start.., logits for every row.
inline Batch sequence_batch(const std::vector<int32_t>& ids, int start = 0) {
  Batch b;
  const int len = start + static_cast<int>(ids.size());
  b.block_tables.emplace_back();
  for (int i = 0; i < (len + 15) / 16; ++i) b.block_tables[0].push_back(i);
  b.seq_lens.push_back(len);
  for (size_t i = 0; i < ids.size(); ++i) {
    b.tokens.push_back(ids[i]);
    b.positions.push_back(start + static_cast<int>(i));
    b.seq_of.push_back(0);
    b.output_rows.push_back(static_cast<int>(i));
  }
  return b;
}

// Logits (ids.size(), n_vocab) of a forward over `ids` placed at positions start...
inline std::vector<float> logits_of(LoadedModel& l, const std::vector<int32_t>& ids, int start = 0) {
  std::vector<float> out(ids.size() * static_cast<size_t>(l.file->hparams.n_vocab));
  auto st = l.model->forward(sequence_batch(ids, start), out.data());
  EXPECT_TRUE(st.is_ok()) << st.message();
  return out;
}

}  // namespace mlxr::testing
