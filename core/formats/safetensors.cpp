#include "core/formats/safetensors.h"

#include <algorithm>
#include <cstring>

#include "core/base/json.h"

namespace mlxr {
namespace {

constexpr uint64_t kMaxHeader = 100000000;  // the reference parser's limit
constexpr uint64_t kMaxElements = uint64_t{1} << 50;

}  // namespace

size_t safetensors_dtype_size(const std::string& d) {
  if (d == "F64" || d == "I64" || d == "U64") return 8;
  if (d == "F32" || d == "I32" || d == "U32") return 4;
  if (d == "F16" || d == "BF16" || d == "I16" || d == "U16") return 2;
  if (d == "BOOL" || d == "U8" || d == "I8" || d == "F8_E4M3" || d == "F8_E5M2" || d == "F8_E8M0") return 1;
  return 0;
}

Expected<std::shared_ptr<SafetensorsFile>> SafetensorsFile::open(const std::string& path) {
  auto f = MappedFile::open(path);
  if (!f) return make_error("safetensors: " + f.error());
  return parse(std::move(*f));
}

Expected<std::shared_ptr<SafetensorsFile>> SafetensorsFile::parse(std::shared_ptr<MappedFile> file) {
  const std::string& path = file->path();
  auto fail = [&](const std::string& msg) { return make_error("safetensors: " + path + ": " + msg); };
  if (file->size() < 8) return fail("file too small for a header (" + std::to_string(file->size()) + " bytes)");
  uint64_t n = 0;
  std::memcpy(&n, file->data(), 8);
  if (n > kMaxHeader) return fail("header length " + std::to_string(n) + " exceeds the 100 MB limit");
  if (n > file->size() - 8) return fail("header length " + std::to_string(n) + " runs past end of file (" + std::to_string(file->size()) + " bytes)");
  std::string_view text(reinterpret_cast<const char*>(file->data() + 8), static_cast<size_t>(n));
  if (text.empty() || text[0] != '{') return fail("header does not start with '{' at byte 8");
  auto doc = Json::parse(text, "safetensors: " + path + ": header (offsets from byte 8)");
  if (!doc) return doc.status();
  if (!doc->is_object()) return fail("header is not a JSON object");

  auto sf = std::shared_ptr<SafetensorsFile>(new SafetensorsFile());
  sf->file_ = file;
  const uint64_t data_start = 8 + n;
  const uint64_t buffer = file->size() - data_start;
  for (const auto& [name, v] : doc->as_object()) {
    if (name == "__metadata__") {
      if (!v.is_object()) return fail("__metadata__ is not an object");
      for (const auto& [k, s] : v.as_object()) {
        if (!s.is_string()) return fail("__metadata__ value for '" + k + "' is not a string");
        sf->metadata_[k] = s.as_string();
      }
      continue;
    }
    auto bad = [&](const std::string& msg) { return fail("tensor '" + name + "': " + msg); };
    if (!v.is_object()) return bad("entry is not an object");
    const Json* dt = v.find("dtype");
    const Json* shape = v.find("shape");
    const Json* offs = v.find("data_offsets");
    if (!dt || !dt->is_string()) return bad("missing or non-string 'dtype'");
    if (!shape || !shape->is_array()) return bad("missing or non-array 'shape'");
    if (!offs || !offs->is_array() || offs->as_array().size() != 2) return bad("'data_offsets' must be [begin, end]");
    SafetensorsTensor t;
    t.name = name;
    t.dtype = dt->as_string();
    size_t esize = safetensors_dtype_size(t.dtype);
    if (esize == 0) return bad("unsupported dtype '" + t.dtype + "'");
    uint64_t numel = 1;
    for (const auto& d : shape->as_array()) {
      auto x = d.exact_int();
      if (!x || *x < 0) return bad("shape has a non-integer or negative dimension");
      if (*x > 0 && numel > kMaxElements / static_cast<uint64_t>(*x)) return bad("shape has too many elements");
      numel *= static_cast<uint64_t>(*x);
      t.shape.push_back(*x);
    }
    auto b = offs->as_array()[0].exact_int();
    auto e = offs->as_array()[1].exact_int();
    if (!b || !e || *b < 0 || *e < *b) return bad("invalid data_offsets");
    if (static_cast<uint64_t>(*e) > buffer)
      return bad("data_offsets end " + std::to_string(*e) + " is past the end of the data buffer (" + std::to_string(buffer) + " bytes)");
    t.nbytes = static_cast<uint64_t>(*e - *b);
    if (t.nbytes != numel * esize)
      return bad("data_offsets span " + std::to_string(t.nbytes) + " bytes but dtype " + t.dtype + " and shape need " + std::to_string(numel * esize));
    t.offset = data_start + static_cast<uint64_t>(*b);
    t.data = file->data() + t.offset;
    if (sf->index_.count(name)) return bad("duplicate tensor name");
    sf->index_[name] = sf->tensors_.size();
    sf->tensors_.push_back(std::move(t));
  }

  // The tensors must tile the buffer exactly: sorted by offset, each starts where the last ended.
  std::vector<const SafetensorsTensor*> order;
  for (const auto& t : sf->tensors_) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) {
    return a->offset != b->offset ? a->offset < b->offset : a->nbytes < b->nbytes;
  });
  uint64_t expect = data_start;
  for (const auto* t : order) {
    if (t->offset < expect) return fail("tensor '" + t->name + "' overlaps another tensor");
    if (t->offset > expect) return fail("gap of " + std::to_string(t->offset - expect) + " bytes before tensor '" + t->name + "'");
    expect = t->offset + t->nbytes;
  }
  if (expect != file->size())
    return fail(std::to_string(file->size() - expect) + " trailing bytes after the last tensor");
  return sf;
}

const SafetensorsTensor* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

Expected<DType> safetensors_dtype(const SafetensorsTensor& t) {
  static const std::pair<const char*, DType> kMap[] = {
      {"F32", DType::F32}, {"F16", DType::F16}, {"BF16", DType::BF16}, {"F64", DType::F64},
      {"I8", DType::I8},   {"I16", DType::I16}, {"I32", DType::I32},   {"I64", DType::I64},
  };
  for (const auto& [n, d] : kMap)
    if (t.dtype == n) return d;
  return make_error("safetensors: tensor '" + t.name + "' has dtype " + t.dtype + ", which the engine does not load");
}

Expected<TensorView> safetensors_view(const SafetensorsTensor& t, const std::string& ggml_name) {
  auto dt = safetensors_dtype(t);
  if (!dt) return dt.status();
  if (t.shape.size() > 4) return make_error("safetensors: tensor '" + t.name + "' has rank " + std::to_string(t.shape.size()) + " (at most 4 supported)");
  TensorView v;
  v.name = ggml_name;
  v.type = *dt;
  v.n_dims = static_cast<int>(t.shape.size());
  for (size_t k = 0; k < t.shape.size(); ++k) v.ne[k] = t.shape[t.shape.size() - 1 - k];
  v.data = t.data;
  v.nbytes = static_cast<size_t>(t.nbytes);
  return v;
}

}  // namespace mlxr
