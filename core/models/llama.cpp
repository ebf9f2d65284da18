// The Llama family: Llama 2/3, Mistral, TinyLlama, Qwen2 (QKV bias), Mixtral (experts).
//
//   x = embed(tokens)                                   (T, n_embd)
//   per layer:
//     h = rmsnorm(x) * attn_norm
//     q, k, v = h·Wqᵀ (+bq), h·Wkᵀ (+bk), h·Wvᵀ (+bv)    (T, n_head*hd), (T, n_kv*hd) x2
//     q, k = rope(q), rope(k)
//     cache ← k, v ;  a = softmax(q·Kᵀ/√hd + causal mask)·V over the cached sequence
//     x = x + a·Woᵀ
//     h = rmsnorm(x) * ffn_norm
//     x = x + (silu(h·Wgᵀ) ⊙ h·Wuᵀ)·Wdᵀ
//       (Mixtral: x = x + Σ_top-k w_e · FFN_e(h), w = renormalised softmax(h·Wrouterᵀ))
//   logits = (rmsnorm(x) * output_norm)·Woutᵀ           only for the rows that sample
#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/models/llama.h"

namespace mlxr {
namespace {

class LlamaModel final : public Model {
 public:
  LlamaModel(std::shared_ptr<const ModelFile> file, Backend& backend) : file_(std::move(file)), be_(backend) {}
  ~LlamaModel() override { release_buffers(); }

  Status load() {
    const ModelHParams& hp = file_->hparams;
    const int64_t e = hp.n_embd, hd = hp.head_dim, nq = hp.n_head * hd, nkv = hp.n_head_kv * hd;
    // Every matrix below goes through weight(); vectors through upload_f32, which is separate.
    size_t weight_bytes = 0;
    for (const auto& [name, t] : file_->tensors)
      if (t.n_dims >= 2) weight_bytes += be_.upload_bytes(t);
    MLXR_RETURN_IF_ERROR(be_.reserve_weights(weight_bytes));
    MLXR_ASSIGN_OR_RETURN(tok_embd_, weight("token_embd.weight", {e, hp.n_vocab}));
    output_ = tok_embd_;
    if (!hp.tied_embeddings) {
      MLXR_ASSIGN_OR_RETURN(output_, weight("output.weight", {e, hp.n_vocab}));
    }
    MLXR_ASSIGN_OR_RETURN(output_norm_, vector("output_norm.weight", e));
    if (file_->find("rope_freqs.weight")) {
      MLXR_ASSIGN_OR_RETURN(rope_freqs_, vector("rope_freqs.weight", hp.rope.n_dims / 2));
    } else if (hp.rope.scaling == RopeScaling::kLlama3) {
      MLXR_ASSIGN_OR_RETURN(rope_freqs_, llama3_freq_factors());
    }
    layers_.resize(static_cast<size_t>(hp.n_layer));
    for (int il = 0; il < hp.n_layer; ++il) {
      Layer& L = layers_[static_cast<size_t>(il)];
      const std::string p = "blk." + std::to_string(il) + ".";
      MLXR_ASSIGN_OR_RETURN(L.attn_norm, vector(p + "attn_norm.weight", e));
      MLXR_ASSIGN_OR_RETURN(L.wq, weight(p + "attn_q.weight", {e, nq}));
      MLXR_ASSIGN_OR_RETURN(L.wk, weight(p + "attn_k.weight", {e, nkv}));
      MLXR_ASSIGN_OR_RETURN(L.wv, weight(p + "attn_v.weight", {e, nkv}));
      MLXR_ASSIGN_OR_RETURN(L.wo, weight(p + "attn_output.weight", {nq, e}));
      MLXR_ASSIGN_OR_RETURN(L.bq, optional_vector(p + "attn_q.bias", nq));
      MLXR_ASSIGN_OR_RETURN(L.bk, optional_vector(p + "attn_k.bias", nkv));
      MLXR_ASSIGN_OR_RETURN(L.bv, optional_vector(p + "attn_v.bias", nkv));
      MLXR_ASSIGN_OR_RETURN(L.ffn_norm, vector(p + "ffn_norm.weight", e));
      if (hp.n_expert > 0) {
        MLXR_RETURN_IF_ERROR(load_experts(p, L));
      } else {
        MLXR_ASSIGN_OR_RETURN(L.w_gate, weight(p + "ffn_gate.weight", {e, hp.n_ff}));
        MLXR_ASSIGN_OR_RETURN(L.w_up, weight(p + "ffn_up.weight", {e, hp.n_ff}));
        MLXR_ASSIGN_OR_RETURN(L.w_down, weight(p + "ffn_down.weight", {hp.n_ff, e}));
      }
    }
    return Status::ok();
  }

  const ModelHParams& hparams() const override { return file_->hparams; }

  Expected<const float*> forward_logits(const Batch& batch) override {
    MLXR_RETURN_IF_ERROR(run_layers(batch));
    be_.matmul(output_, final_, static_cast<int>(batch.output_rows.size()), logits_dev_);
    return logits_dev_;
  }

  Status forward(const Batch& batch, float* logits) override {
    MLXR_ASSIGN_OR_RETURN(const float* dev, forward_logits(batch));
    be_.to_host(logits, dev, batch.output_rows.size() * static_cast<size_t>(file_->hparams.n_vocab));
    return Status::ok();
  }

  Status hidden_states(const Batch& batch, float* out) override {
    MLXR_RETURN_IF_ERROR(run_layers(batch));
    be_.to_host(out, final_, batch.output_rows.size() * static_cast<size_t>(file_->hparams.n_embd));
    return Status::ok();
  }

 private:
  struct Expert {
    TensorView w_gate, w_up, w_down;
  };

  struct Layer {
    const float* attn_norm = nullptr;
    const float* ffn_norm = nullptr;
    TensorView wq, wk, wv, wo, w_gate, w_up, w_down;
    const float* bq = nullptr;
    const float* bk = nullptr;
    const float* bv = nullptr;
    TensorView router;  // (n_embd -> n_expert), MoE only
    std::vector<Expert> experts;
  };

  // Expert FFNs, per-expert tensors or slices of the fused *_exps tensors (no copy).
  Status load_experts(const std::string& p, Layer& L) {
    const ModelHParams& hp = file_->hparams;
    const int64_t e = hp.n_embd, ff = hp.n_ff, ne = hp.n_expert;
    if (hp.n_expert_used <= 0 || hp.n_expert_used > hp.n_expert)
      return make_error("model: " + file_->path + ": invalid experts-used count " + std::to_string(hp.n_expert_used));
    MLXR_ASSIGN_OR_RETURN(L.router, weight(p + "ffn_gate_inp.weight", {e, ne}));
    L.experts.resize(static_cast<size_t>(ne));
    const bool fused = file_->find(p + "ffn_gate_exps.weight") != nullptr;
    const struct {
      const char* name;
      std::vector<int64_t> shape;
      TensorView Expert::*field;
    } parts[] = {{"ffn_gate", {e, ff}, &Expert::w_gate}, {"ffn_up", {e, ff}, &Expert::w_up}, {"ffn_down", {ff, e}, &Expert::w_down}};
    for (const auto& part : parts) {
      if (fused) {
        auto shape = part.shape;
        shape.push_back(ne);
        MLXR_ASSIGN_OR_RETURN(const TensorView* all, file_->require(p + part.name + "_exps.weight", shape));
        for (int64_t x = 0; x < ne; ++x) {
          TensorView v = *all;
          v.n_dims = 2;
          v.ne = {part.shape[0], part.shape[1], 1, 1};
          v.nbytes = all->nbytes / static_cast<size_t>(ne);
          v.data = static_cast<const uint8_t*>(all->data) + v.nbytes * static_cast<size_t>(x);
          MLXR_ASSIGN_OR_RETURN(L.experts[x].*part.field, be_.upload(v));
        }
      } else {
        for (int64_t x = 0; x < ne; ++x) {
          MLXR_ASSIGN_OR_RETURN(L.experts[x].*part.field, weight(p + part.name + "." + std::to_string(x) + ".weight", part.shape));
        }
      }
    }
    return Status::ok();
  }

  Expected<TensorView> weight(const std::string& name, std::vector<int64_t> ne) {
    MLXR_ASSIGN_OR_RETURN(const TensorView* t, file_->require(name, std::move(ne)));
    return be_.upload(*t);
  }
  Expected<const float*> vector(const std::string& name, int64_t n) {
    MLXR_ASSIGN_OR_RETURN(const TensorView* t, file_->require(name, {n}));
    return be_.upload_f32(*t);
  }
  Expected<const float*> optional_vector(const std::string& name, int64_t n) {
    if (!file_->find(name)) return static_cast<const float*>(nullptr);
    return vector(name, n);
  }

  // Llama 3.1's frequency-dependent RoPE scaling, expressed as per-pair frequency divisors.
  // The host copy lives in llama3_ff_host_: the CPU backend uses it in place.
  Expected<const float*> llama3_freq_factors() {
    const RopeParams& r = file_->hparams.rope;
    const int n = r.n_dims / 2;
    std::vector<float>& ff = llama3_ff_host_;
    ff.assign(static_cast<size_t>(n), 0.0f);
    const float low_wavelen = r.orig_ctx / r.low_freq_factor;
    const float high_wavelen = r.orig_ctx / r.high_freq_factor;
    for (int i = 0; i < n; ++i) {
      const float freq = std::pow(r.theta, -2.0f * i / r.n_dims);
      const float wavelen = 2.0f * static_cast<float>(M_PI) / freq;
      if (wavelen < high_wavelen) {
        ff[i] = 1.0f;
      } else if (wavelen > low_wavelen) {
        ff[i] = r.factor;
      } else {
        const float smooth = (r.orig_ctx / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
        ff[i] = 1.0f / ((1 - smooth) / r.factor + smooth);
      }
    }
    TensorView v;
    v.name = "rope_freqs (llama3)";
    v.n_dims = 1;
    v.ne = {n, 1, 1, 1};
    v.data = ff.data();
    v.nbytes = ff.size() * sizeof(float);
    return be_.upload_f32(v);
  }

  void release_buffers() {
    for (float* p : buffers_) be_.free(p);
    buffers_.clear();
    capacity_ = 0;
  }

  Status reserve(int T) {
    if (T <= capacity_) return Status::ok();
    release_buffers();
    const ModelHParams& hp = file_->hparams;
    const size_t t = static_cast<size_t>(T);
    const size_t e = hp.n_embd, nq = static_cast<size_t>(hp.n_head) * hp.head_dim,
                 nkv = static_cast<size_t>(hp.n_head_kv) * hp.head_dim, ff = hp.n_ff;
    const size_t ne = static_cast<size_t>(std::max(hp.n_expert, 1));
    // final_ doubles as an expert's output rows and attn_ as its input rows (MoE).
    float** slots[] = {&x_, &h_, &q_, &k_, &v_, &attn_, &gate_, &up_, &final_, &logits_dev_, &router_, &moe_out_};
    const size_t sizes[] = {t * e, t * e, t * std::max(nq, e), t * nkv, t * nkv, t * std::max(nq, e), t * ff, t * ff, t * e, t * hp.n_vocab, t * ne, t * e};
    for (size_t i = 0; i < std::size(slots); ++i) {
      auto p = be_.alloc(sizes[i]);
      if (!p) return p.status();
      *slots[i] = *p;
      buffers_.push_back(*p);
    }
    capacity_ = T;
    return Status::ok();
  }

  Status run_layers(const Batch& batch) {
    const ModelHParams& hp = file_->hparams;
    const int T = batch.n_tokens();
    if (T == 0) return make_error("model: empty batch");
    for (int32_t id : batch.tokens)
      if (id < 0 || id >= hp.n_vocab) return make_error("model: token id " + std::to_string(id) + " out of range [0, " + std::to_string(hp.n_vocab) + ")");
    for (int32_t r : batch.output_rows)
      if (r < 0 || r >= T) return make_error("model: output row " + std::to_string(r) + " out of range");
    MLXR_RETURN_IF_ERROR(reserve(T));
    MLXR_RETURN_IF_ERROR(be_.set_batch(batch));
    const int e = hp.n_embd, hd = hp.head_dim, nq = hp.n_head * hd, nkv = hp.n_head_kv * hd;
    const float kq_scale = 1.0f / std::sqrt(static_cast<float>(hd));

    be_.get_rows(tok_embd_, x_);
    for (int il = 0; il < hp.n_layer; ++il) {
      const Layer& L = layers_[static_cast<size_t>(il)];
      be_.rms_norm(x_, L.attn_norm, hp.rms_eps, T, e, h_);
      be_.matmul(L.wq, h_, T, q_);
      be_.matmul(L.wk, h_, T, k_);
      be_.matmul(L.wv, h_, T, v_);
      if (L.bq) be_.add_row(q_, L.bq, T, nq);
      if (L.bk) be_.add_row(k_, L.bk, T, nkv);
      if (L.bv) be_.add_row(v_, L.bv, T, nkv);
      be_.rope(q_, hp.n_head, hd, hp.rope, rope_freqs_);
      be_.rope(k_, hp.n_head_kv, hd, hp.rope, rope_freqs_);
      be_.kv_store(il, k_, v_);
      be_.attention(il, q_, hp.n_head, kq_scale, hp.sliding_window, attn_);
      be_.matmul(L.wo, attn_, T, h_);
      be_.add(x_, h_, static_cast<size_t>(T) * e);

      be_.rms_norm(x_, L.ffn_norm, hp.rms_eps, T, e, h_);
      if (L.experts.empty()) {
        be_.matmul(L.w_gate, h_, T, gate_);
        be_.matmul(L.w_up, h_, T, up_);
        be_.swiglu(gate_, up_, gate_, static_cast<size_t>(T) * hp.n_ff);
        be_.matmul(L.w_down, gate_, T, h_);
      } else {
        moe_ffn(L, T);
      }
      be_.add(x_, h_, static_cast<size_t>(T) * e);
    }
    const int n_out = static_cast<int>(batch.output_rows.size());
    be_.gather_output_rows(x_, e, h_);
    be_.rms_norm(h_, output_norm_, hp.rms_eps, n_out, e, final_);
    return Status::ok();
  }

  // h_ (T, n_embd) -> h_: each row through its top-k experts, weighted by the router.
  void moe_ffn(const Layer& L, int T) {
    const ModelHParams& hp = file_->hparams;
    const int ne = hp.n_expert, k = hp.n_expert_used, e = hp.n_embd;
    be_.matmul(L.router, h_, T, router_);
    router_host_.resize(static_cast<size_t>(T) * ne);
    be_.to_host(router_host_.data(), router_, router_host_.size());
    std::vector<std::vector<int32_t>> rows(static_cast<size_t>(ne));
    std::vector<std::vector<float>> scales(static_cast<size_t>(ne));
    std::vector<int> order(static_cast<size_t>(ne));
    for (int t = 0; t < T; ++t) {
      const float* logit = router_host_.data() + static_cast<size_t>(t) * ne;
      const float mx = *std::max_element(logit, logit + ne);
      std::vector<float> prob(static_cast<size_t>(ne));
      float sum = 0;
      for (int x = 0; x < ne; ++x) sum += prob[x] = std::exp(logit[x] - mx);
      for (auto& p : prob) p /= sum;
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + k, order.end(),
                        [&](int a, int b) { return prob[a] > prob[b] || (prob[a] == prob[b] && a < b); });
      float top_sum = 0;
      for (int i = 0; i < k; ++i) top_sum += prob[order[i]];
      for (int i = 0; i < k; ++i) {
        rows[order[i]].push_back(t);
        scales[order[i]].push_back(prob[order[i]] / top_sum);
      }
    }
    be_.fill_zero(moe_out_, static_cast<size_t>(T) * e);
    for (int x = 0; x < ne; ++x) {
      const int n = static_cast<int>(rows[x].size());
      if (n == 0) continue;
      const Expert& E = L.experts[static_cast<size_t>(x)];
      be_.gather_rows(h_, rows[x].data(), n, e, attn_);  // attn_ is free here and wide enough
      be_.matmul(E.w_gate, attn_, n, gate_);
      be_.matmul(E.w_up, attn_, n, up_);
      be_.swiglu(gate_, up_, gate_, static_cast<size_t>(n) * hp.n_ff);
      be_.matmul(E.w_down, gate_, n, final_);
      be_.scatter_add_scaled(moe_out_, final_, rows[x].data(), scales[x].data(), n, e);
    }
    std::swap(h_, moe_out_);
  }

  std::shared_ptr<const ModelFile> file_;
  Backend& be_;
  TensorView tok_embd_, output_;
  const float* output_norm_ = nullptr;
  const float* rope_freqs_ = nullptr;
  std::vector<float> llama3_ff_host_;
  std::vector<Layer> layers_;

  int capacity_ = 0;
  std::vector<float*> buffers_;
  float* x_ = nullptr;       // (T, n_embd) residual stream
  float* h_ = nullptr;       // (T, n_embd) normed input / projection output
  float* q_ = nullptr;       // (T, n_head*hd)
  float* k_ = nullptr;       // (T, n_kv*hd)
  float* v_ = nullptr;       // (T, n_kv*hd)
  float* attn_ = nullptr;    // (T, n_head*hd)
  float* gate_ = nullptr;    // (T, n_ff)
  float* up_ = nullptr;      // (T, n_ff)
  float* final_ = nullptr;   // (n_out, n_embd) final-normed rows that sample
  float* logits_dev_ = nullptr;  // (n_out, n_vocab)
  float* router_ = nullptr;      // (T, n_expert) router logits
  float* moe_out_ = nullptr;     // (T, n_embd) weighted sum of expert outputs
  std::vector<float> router_host_;
};

}  // namespace

Expected<std::unique_ptr<Model>> load_llama(std::shared_ptr<const ModelFile> file, Backend& backend) {
  auto m = std::make_unique<LlamaModel>(std::move(file), backend);
  MLXR_RETURN_IF_ERROR(m->load());
  return std::unique_ptr<Model>(std::move(m));
}

}  // namespace mlxr
