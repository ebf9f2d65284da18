#include <algorithm>
#include <cstring>

#include "core/formats/gguf.h"

namespace mlxr {
namespace {

constexpr uint32_t kMaxDims = 4;
constexpr size_t kMaxNameLen = 64;  // llama.cpp's GGML_MAX_NAME (names must be shorter)

class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size, std::string path)
      : data_(data), size_(size), path_(std::move(path)) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }
  Error fail(const std::string& what) const {
    return make_error("gguf: " + path_ + ": " + what + " at byte " + std::to_string(pos_));
  }

  template <typename T>
  Expected<T> read() {
    if (remaining() < sizeof(T)) return fail("truncated file (need " + std::to_string(sizeof(T)) + " bytes)");
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  Expected<std::string> read_string() {
    auto n = read<uint64_t>();
    if (!n) return n.status();
    if (*n > remaining()) return fail("string length " + std::to_string(*n) + " runs past end of file");
    std::string s(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(*n));
    pos_ += static_cast<size_t>(*n);
    return s;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  std::string path_;
};

size_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::U8: case GgufType::I8: case GgufType::BOOL: return 1;
    case GgufType::U16: case GgufType::I16: return 2;
    case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
    case GgufType::U64: case GgufType::I64: case GgufType::F64: return 8;
    default: return 0;
  }
}

bool valid_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::F64); }

// Reads one scalar of type t into v (integers to v.i/v.u, floats to v.f, bool to v.b).
Status read_scalar(Cursor& c, GgufType t, GgufValue& v) {
  switch (t) {
#define MLXR_INT_CASE(TAG, CT)                    \
  case GgufType::TAG: {                           \
    auto x = c.read<CT>();                        \
    if (!x) return x.status();                    \
    v.i = static_cast<int64_t>(*x);               \
    v.u = static_cast<uint64_t>(*x);              \
    return Status::ok();                          \
  }
    MLXR_INT_CASE(U8, uint8_t)
    MLXR_INT_CASE(I8, int8_t)
    MLXR_INT_CASE(U16, uint16_t)
    MLXR_INT_CASE(I16, int16_t)
    MLXR_INT_CASE(U32, uint32_t)
    MLXR_INT_CASE(I32, int32_t)
    MLXR_INT_CASE(U64, uint64_t)
    MLXR_INT_CASE(I64, int64_t)
#undef MLXR_INT_CASE
    case GgufType::F32: {
      auto x = c.read<float>();
      if (!x) return x.status();
      v.f = *x;
      return Status::ok();
    }
    case GgufType::F64: {
      auto x = c.read<double>();
      if (!x) return x.status();
      v.f = *x;
      return Status::ok();
    }
    case GgufType::BOOL: {
      auto x = c.read<uint8_t>();
      if (!x) return x.status();
      if (*x > 1) return c.fail("bool value " + std::to_string(*x) + " is neither 0 nor 1");
      v.b = *x == 1;
      v.i = *x;
      return Status::ok();
    }
    case GgufType::STRING: {
      auto s = c.read_string();
      if (!s) return s.status();
      v.s = std::move(*s);
      return Status::ok();
    }
    default:
      return c.fail("unexpected value type " + std::to_string(static_cast<uint32_t>(t)));
  }
}

Status read_value(Cursor& c, GgufType t, GgufValue& v) {
  v.type = t;
  if (t != GgufType::ARRAY) return read_scalar(c, t, v);
  auto et = c.read<uint32_t>();
  if (!et) return et.status();
  if (!valid_type(*et)) return c.fail("invalid array element type " + std::to_string(*et));
  v.elem_type = static_cast<GgufType>(*et);
  if (v.elem_type == GgufType::ARRAY) return c.fail("nested arrays are not supported");
  auto n = c.read<uint64_t>();
  if (!n) return n.status();
  // Every element takes at least one byte (strings at least eight): bound the count by the file.
  size_t min_elem = v.elem_type == GgufType::STRING ? 8 : scalar_size(v.elem_type);
  if (*n > c.remaining() / min_elem)
    return c.fail("array of " + std::to_string(*n) + " elements runs past end of file");
  GgufValue e;
  if (v.elem_type == GgufType::STRING) {
    v.strs.reserve(*n);
    for (uint64_t k = 0; k < *n; ++k) {
      auto s = c.read_string();
      if (!s) return s.status();
      v.strs.push_back(std::move(*s));
    }
  } else if (v.elem_type == GgufType::F32 || v.elem_type == GgufType::F64) {
    v.floats.reserve(*n);
    for (uint64_t k = 0; k < *n; ++k) {
      auto st = read_scalar(c, v.elem_type, e);
      if (!st) return st;
      v.floats.push_back(e.f);
    }
  } else {
    v.ints.reserve(*n);
    for (uint64_t k = 0; k < *n; ++k) {
      auto st = read_scalar(c, v.elem_type, e);
      if (!st) return st;
      v.ints.push_back(e.i);
    }
  }
  return Status::ok();
}

}  // namespace

bool GgufValue::is_integer() const {
  switch (type) {
    case GgufType::U8: case GgufType::I8: case GgufType::U16: case GgufType::I16:
    case GgufType::U32: case GgufType::I32: case GgufType::U64: case GgufType::I64:
      return true;
    default:
      return false;
  }
}

const char* gguf_type_name(GgufType t) {
  static const char* names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                "bool", "string", "array", "u64", "i64", "f64"};
  auto i = static_cast<uint32_t>(t);
  return i < 13 ? names[i] : "invalid";
}

Expected<std::shared_ptr<GgufFile>> GgufFile::open(const std::string& path) {
  auto f = MappedFile::open(path);
  if (!f) return make_error("gguf: " + f.error());
  return parse(std::move(*f));
}

Expected<std::shared_ptr<GgufFile>> GgufFile::parse(std::shared_ptr<MappedFile> file) {
  auto g = std::shared_ptr<GgufFile>(new GgufFile());
  g->file_ = file;
  Cursor c(file->data(), file->size(), file->path());

  auto magic = c.read<uint32_t>();
  if (!magic) return magic.status();
  if (*magic != 0x46554747u) return c.fail("not a GGUF file (bad magic)");
  auto version = c.read<uint32_t>();
  if (!version) return version.status();
  if (*version == 0x02000000u || *version == 0x03000000u)
    return c.fail("big-endian GGUF files are not supported");
  if (*version != 2 && *version != 3)
    return c.fail("unsupported GGUF version " + std::to_string(*version) + " (need 2 or 3)");
  g->version_ = *version;
  auto n_tensors = c.read<uint64_t>();
  if (!n_tensors) return n_tensors.status();
  auto n_kv = c.read<uint64_t>();
  if (!n_kv) return n_kv.status();
  // A KV takes at least 8 (key length) + 4 (type) + 1 bytes; a tensor info at least 8+4+8+4+8.
  if (*n_kv > c.remaining() / 13) return c.fail("metadata count " + std::to_string(*n_kv) + " is impossible for this file size");
  if (*n_tensors > c.remaining() / 32) return c.fail("tensor count " + std::to_string(*n_tensors) + " is impossible for this file size");

  for (uint64_t k = 0; k < *n_kv; ++k) {
    auto key = c.read_string();
    if (!key) return key.status();
    auto t = c.read<uint32_t>();
    if (!t) return t.status();
    if (!valid_type(*t)) return c.fail("key '" + *key + "' has invalid value type " + std::to_string(*t));
    GgufValue v;
    auto st = read_value(c, static_cast<GgufType>(*t), v);
    if (!st) return st;
    if (g->kv_.count(*key)) return c.fail("duplicate metadata key '" + *key + "'");
    g->key_order_.push_back(*key);
    g->kv_.emplace(std::move(*key), std::move(v));
  }

  if (auto a = g->find("general.alignment")) {
    if (!a->is_integer() || a->i <= 0 || (a->i & (a->i - 1)) != 0 || a->i > (1 << 20))
      return make_error("gguf: " + file->path() + ": general.alignment must be a power of two");
    g->alignment_ = static_cast<uint32_t>(a->i);
  }

  struct Info {
    uint64_t offset;
    size_t bytes;
  };
  std::vector<Info> infos;
  for (uint64_t k = 0; k < *n_tensors; ++k) {
    TensorView tv;
    auto name = c.read_string();
    if (!name) return name.status();
    if (name->size() >= kMaxNameLen) return c.fail("tensor name '" + *name + "' is too long (max 63 bytes)");
    auto nd = c.read<uint32_t>();
    if (!nd) return nd.status();
    if (*nd == 0 || *nd > kMaxDims) return c.fail("tensor '" + *name + "' has " + std::to_string(*nd) + " dimensions (1..4 allowed)");
    tv.n_dims = static_cast<int>(*nd);
    uint64_t total = 1;
    for (uint32_t d = 0; d < *nd; ++d) {
      auto ne = c.read<uint64_t>();
      if (!ne) return ne.status();
      if (*ne == 0 || *ne > (uint64_t{1} << 40)) return c.fail("tensor '" + *name + "' has invalid dimension " + std::to_string(*ne));
      if (total > (uint64_t{1} << 50) / *ne) return c.fail("tensor '" + *name + "' has too many elements");
      total *= *ne;
      tv.ne[d] = static_cast<int64_t>(*ne);
    }
    auto type = c.read<uint32_t>();
    if (!type) return type.status();
    auto info = dtype_info(*type);
    if (!info) return c.fail("tensor '" + *name + "' has unknown or unsupported type " + std::to_string(*type));
    tv.type = info->type;
    auto rb = row_bytes(tv.type, static_cast<uint64_t>(tv.ne[0]));
    if (!rb) return c.fail("tensor '" + *name + "': row length " + std::to_string(tv.ne[0]) + " is not a multiple of the " + info->name + " block size");
    tv.nbytes = *rb * static_cast<size_t>(total / static_cast<uint64_t>(tv.ne[0]));
    auto off = c.read<uint64_t>();
    if (!off) return off.status();
    if (*off % g->alignment_ != 0) return c.fail("tensor '" + *name + "' offset " + std::to_string(*off) + " is not aligned to " + std::to_string(g->alignment_));
    tv.name = std::move(*name);
    if (g->tensor_index_.count(tv.name)) return c.fail("duplicate tensor name '" + tv.name + "'");
    g->tensor_index_[tv.name] = g->tensors_.size();
    infos.push_back({*off, tv.nbytes});
    g->tensors_.push_back(std::move(tv));
  }

  uint64_t data = (c.pos() + g->alignment_ - 1) / g->alignment_ * g->alignment_;
  g->data_offset_ = data;
  if (!g->tensors_.empty() && data > file->size())
    return make_error("gguf: " + file->path() + ": data section starts past end of file");
  uint64_t avail = file->size() > data ? file->size() - data : 0;
  std::vector<size_t> order(infos.size());
  for (size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return infos[a].offset < infos[b].offset; });
  uint64_t prev_end = 0;
  for (size_t k : order) {
    auto& tv = g->tensors_[k];
    if (infos[k].offset > avail || infos[k].bytes > avail - infos[k].offset)
      return make_error("gguf: " + file->path() + ": tensor '" + tv.name + "' (" + std::to_string(infos[k].bytes) +
                        " bytes at data offset " + std::to_string(infos[k].offset) + ") runs past end of file");
    if (infos[k].offset < prev_end)
      return make_error("gguf: " + file->path() + ": tensor '" + tv.name + "' overlaps the previous tensor");
    prev_end = infos[k].offset + infos[k].bytes;
    tv.data = file->data() + data + infos[k].offset;
  }
  return g;
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = kv_.find(key);
  return it == kv_.end() ? nullptr : &it->second;
}

std::optional<std::string> GgufFile::get_string(const std::string& key) const {
  auto v = find(key);
  if (!v || v->type != GgufType::STRING) return std::nullopt;
  return v->s;
}

std::optional<int64_t> GgufFile::get_int(const std::string& key) const {
  auto v = find(key);
  if (!v || !v->is_integer()) return std::nullopt;
  return v->i;
}

std::optional<double> GgufFile::get_float(const std::string& key) const {
  auto v = find(key);
  if (!v) return std::nullopt;
  if (v->is_float()) return v->f;
  if (v->is_integer()) return static_cast<double>(v->i);
  return std::nullopt;
}

std::optional<bool> GgufFile::get_bool(const std::string& key) const {
  auto v = find(key);
  if (!v || v->type != GgufType::BOOL) return std::nullopt;
  return v->b;
}

const TensorView* GgufFile::tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace mlxr
