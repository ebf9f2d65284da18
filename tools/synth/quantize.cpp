#include "tools/synth/quantize.h"

#include <filesystem>

#include "core/formats/gguf.h"
#include "core/formats/gguf_writer.h"
#include "core/quant/quant.h"
#include "tools/synth/parallel.h"
#include "tools/synth/types.h"

namespace mlxr::tools {

bool should_quantize(const std::string& name, int n_dims) {
  auto ends_with = [&](const std::string& s) { return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0; };
  if (n_dims < 2 || !ends_with(".weight")) return false;
  if (name.find("_norm") != std::string::npos) return false;
  if (name.find("ffn_gate_inp") != std::string::npos) return false;  // the MoE router stays exact
  return true;
}

Status quantize_gguf(const std::string& in, const std::string& out, DType type,
                     const std::function<void(const std::string&)>& progress) {
  if (!writable_type(type)) return Status::error(std::string("quantize: cannot write type ") + dtype_name(type) + " (supported: " + writable_type_names() + ")");
  std::error_code ec;
  if (std::filesystem::exists(out, ec) && std::filesystem::equivalent(in, out, ec))
    return Status::error("quantize: output must differ from the input");
  auto gf = GgufFile::open(in);
  if (!gf) return gf.status();
  const GgufFile& g = **gf;

  GgufWriter w;
  w.copy_metadata(g);
  w.set("general.file_type", gguf_u32(llama_ftype(type)));
  std::vector<DType> targets;
  bool any_quant = false;
  for (const auto& t : g.tensors()) {
    DType tt = t.type;
    if (should_quantize(t.name, t.n_dims)) {
      tt = fallback_type(type, t.ne[0]);
      if (tt != t.type && !can_dequantize(t.type)) {
        if (progress) progress(std::string("keeping ") + t.name + " as " + dtype_name(t.type) + " (cannot convert it)");
        tt = t.type;
      }
    }
    any_quant = any_quant || dtype_info(tt).quantized;
    targets.push_back(tt);
    std::vector<int64_t> ne(t.ne.begin(), t.ne.begin() + t.n_dims);
    auto st = w.add_tensor(t.name, tt, ne);
    if (!st) return st;
  }
  if (any_quant) w.set("general.quantization_version", gguf_u32(2));
  auto st = w.open(out);
  if (!st) return st;

  std::vector<uint8_t> buf;
  for (size_t i = 0; i < g.tensors().size(); ++i) {
    const TensorView& t = g.tensors()[i];
    const DType tt = targets[i];
    if (progress) progress("[" + std::to_string(i + 1) + "/" + std::to_string(g.tensors().size()) + "] " + t.name + " " +
                           dtype_name(t.type) + " -> " + dtype_name(tt));
    if (tt == t.type) {
      st = w.write(t.data, t.nbytes);
      if (!st) return st;
      continue;
    }
    const int64_t n = t.ne[0], rows = t.rows();
    const size_t in_rb = t.row_size(), out_rb = *row_bytes(tt, static_cast<uint64_t>(n));
    const int64_t step = std::max<int64_t>(1, static_cast<int64_t>((4u << 20) / out_rb));
    for (int64_t r0 = 0; r0 < rows; r0 += step) {
      const int64_t r1 = std::min(rows, r0 + step);
      buf.resize(static_cast<size_t>(r1 - r0) * out_rb);
      std::vector<Status> errors(std::max(1u, std::thread::hardware_concurrency()));
      parallel_ranges(r1 - r0, [&](int64_t b, int64_t e, int wk) {
        std::vector<float> row(static_cast<size_t>(n));
        for (int64_t r = r0 + b; r < r0 + e; ++r) {
          dequantize_row(t.type, static_cast<const uint8_t*>(t.data) + static_cast<size_t>(r) * in_rb, row.data(), n);
          auto s = quantize_row(tt, row.data(), buf.data() + static_cast<size_t>(r - r0) * out_rb, n);
          if (!s) {
            errors[wk] = s;
            return;
          }
        }
      });
      for (const auto& s : errors)
        if (!s) return Status::error("quantize: tensor " + t.name + ": " + s.message());
      st = w.write(buf.data(), buf.size());
      if (!st) return st;
    }
  }
  return w.close();
}

}  // namespace mlxr::tools
