#include "core/formats/gguf_writer.h"

#include <cerrno>
#include <cstring>

namespace mlxr {

GgufValue gguf_u8(uint8_t v) { GgufValue g; g.type = GgufType::U8; g.i = v; g.u = v; return g; }
GgufValue gguf_i8(int8_t v) { GgufValue g; g.type = GgufType::I8; g.i = v; g.u = static_cast<uint64_t>(v); return g; }
GgufValue gguf_u16(uint16_t v) { GgufValue g; g.type = GgufType::U16; g.i = v; g.u = v; return g; }
GgufValue gguf_i16(int16_t v) { GgufValue g; g.type = GgufType::I16; g.i = v; g.u = static_cast<uint64_t>(v); return g; }
GgufValue gguf_u32(uint32_t v) { GgufValue g; g.type = GgufType::U32; g.i = v; g.u = v; return g; }
GgufValue gguf_i32(int32_t v) { GgufValue g; g.type = GgufType::I32; g.i = v; g.u = static_cast<uint64_t>(v); return g; }
GgufValue gguf_u64(uint64_t v) { GgufValue g; g.type = GgufType::U64; g.i = static_cast<int64_t>(v); g.u = v; return g; }
GgufValue gguf_i64(int64_t v) { GgufValue g; g.type = GgufType::I64; g.i = v; g.u = static_cast<uint64_t>(v); return g; }
GgufValue gguf_f32(float v) { GgufValue g; g.type = GgufType::F32; g.f = v; return g; }
GgufValue gguf_f64(double v) { GgufValue g; g.type = GgufType::F64; g.f = v; return g; }
GgufValue gguf_bool(bool v) { GgufValue g; g.type = GgufType::BOOL; g.b = v; g.i = v; return g; }
GgufValue gguf_str(std::string v) { GgufValue g; g.type = GgufType::STRING; g.s = std::move(v); return g; }
GgufValue gguf_str_array(std::vector<std::string> v) {
  GgufValue g;
  g.type = GgufType::ARRAY;
  g.elem_type = GgufType::STRING;
  g.strs = std::move(v);
  return g;
}
GgufValue gguf_f32_array(const std::vector<float>& v) {
  GgufValue g;
  g.type = GgufType::ARRAY;
  g.elem_type = GgufType::F32;
  g.floats.assign(v.begin(), v.end());
  return g;
}
GgufValue gguf_int_array(GgufType elem, std::vector<int64_t> v) {
  GgufValue g;
  g.type = GgufType::ARRAY;
  g.elem_type = elem;
  g.ints = std::move(v);
  return g;
}

GgufWriter::~GgufWriter() { abort(); }

void GgufWriter::set(const std::string& key, GgufValue value) {
  for (auto& [k, v] : kv_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  kv_.emplace_back(key, std::move(value));
}

void GgufWriter::remove(const std::string& key) {
  for (auto it = kv_.begin(); it != kv_.end(); ++it) {
    if (it->first == key) {
      kv_.erase(it);
      return;
    }
  }
}

void GgufWriter::copy_metadata(const GgufFile& src) {
  for (const auto& k : src.key_order()) set(k, *src.find(k));
}

const GgufValue* GgufWriter::find(const std::string& key) const {
  for (const auto& [k, v] : kv_)
    if (k == key) return &v;
  return nullptr;
}

Status GgufWriter::add_tensor(const std::string& name, DType type, std::vector<int64_t> ne) {
  auto fail = [&](const std::string& m) { return Status::error("gguf writer: tensor '" + name + "': " + m); };
  if (f_) return fail("tensors must be declared before open()");
  if (name.empty() || name.size() >= 64) return fail("name must be 1..63 bytes");
  for (const auto& t : tensors_)
    if (t.name == name) return fail("duplicate name");
  if (ne.empty() || ne.size() > 4) return fail("must have 1..4 dimensions");
  uint64_t rows = 1;
  for (size_t d = 0; d < ne.size(); ++d) {
    if (ne[d] < 1) return fail("dimension " + std::to_string(d) + " is " + std::to_string(ne[d]));
    if (d > 0) rows *= static_cast<uint64_t>(ne[d]);
  }
  auto rb = row_bytes(type, static_cast<uint64_t>(ne[0]));
  if (!rb) return fail("row length " + std::to_string(ne[0]) + " is not a multiple of the " + dtype_name(type) + " block size");
  GgufTensorInfo t;
  t.name = name;
  t.type = type;
  t.ne = std::move(ne);
  t.nbytes = *rb * rows;
  tensors_.push_back(std::move(t));
  return Status::ok();
}

Status GgufWriter::write_raw(const void* data, size_t n) {
  if (n && std::fwrite(data, 1, n, f_) != n)
    return Status::error("gguf writer: " + tmp_path_ + ": write failed: " + std::strerror(errno));
  pos_ += n;
  return Status::ok();
}

Status GgufWriter::pad_to(uint64_t align) {
  static const uint8_t zeros[64] = {};
  while (pos_ % align != 0) {
    uint64_t n = std::min<uint64_t>(align - pos_ % align, sizeof(zeros));
    auto st = write_raw(zeros, static_cast<size_t>(n));
    if (!st) return st;
  }
  return Status::ok();
}

namespace {

// Serialises into a byte string (the header is small next to the tensors).
class Buf {
 public:
  template <typename T>
  void put(T v) {
    const char* p = reinterpret_cast<const char*>(&v);
    s.append(p, sizeof(T));
  }
  void str(const std::string& v) {
    put<uint64_t>(v.size());
    s += v;
  }
  std::string s;
};

Status put_scalar(Buf& b, GgufType t, int64_t i, uint64_t u, double f, bool bl, const std::string* s) {
  switch (t) {
    case GgufType::U8: b.put<uint8_t>(static_cast<uint8_t>(i)); break;
    case GgufType::I8: b.put<int8_t>(static_cast<int8_t>(i)); break;
    case GgufType::U16: b.put<uint16_t>(static_cast<uint16_t>(i)); break;
    case GgufType::I16: b.put<int16_t>(static_cast<int16_t>(i)); break;
    case GgufType::U32: b.put<uint32_t>(static_cast<uint32_t>(i)); break;
    case GgufType::I32: b.put<int32_t>(static_cast<int32_t>(i)); break;
    case GgufType::U64: b.put<uint64_t>(u); break;
    case GgufType::I64: b.put<int64_t>(i); break;
    case GgufType::F32: b.put<float>(static_cast<float>(f)); break;
    case GgufType::F64: b.put<double>(f); break;
    case GgufType::BOOL: b.put<uint8_t>(bl ? 1 : 0); break;
    case GgufType::STRING: b.str(s ? *s : std::string()); break;
    default: return Status::error("gguf writer: invalid value type " + std::to_string(static_cast<uint32_t>(t)));
  }
  return Status::ok();
}

Status put_value(Buf& b, const std::string& key, const GgufValue& v) {
  b.put<uint32_t>(static_cast<uint32_t>(v.type));
  if (v.type != GgufType::ARRAY) return put_scalar(b, v.type, v.i, v.u, v.f, v.b, &v.s);
  const GgufType e = v.elem_type;
  if (e == GgufType::ARRAY) return Status::error("gguf writer: key '" + key + "': nested arrays are not allowed");
  b.put<uint32_t>(static_cast<uint32_t>(e));
  if (e == GgufType::STRING) {
    b.put<uint64_t>(v.strs.size());
    for (const auto& s : v.strs) b.str(s);
  } else if (e == GgufType::F32 || e == GgufType::F64) {
    b.put<uint64_t>(v.floats.size());
    for (double f : v.floats) put_scalar(b, e, 0, 0, f, false, nullptr);
  } else {
    b.put<uint64_t>(v.ints.size());
    for (int64_t x : v.ints) {
      auto st = put_scalar(b, e, x, static_cast<uint64_t>(x), 0, x != 0, nullptr);
      if (!st) return st;
    }
  }
  return Status::ok();
}

}  // namespace

Status GgufWriter::open(const std::string& path) {
  if (f_) return Status::error("gguf writer: already open");
  alignment_ = 32;
  if (const GgufValue* a = find("general.alignment")) {
    if (!a->is_integer() || a->i <= 0 || (a->i & (a->i - 1)) != 0 || a->i > (1 << 20))
      return Status::error("gguf writer: general.alignment must be a power of two");
    alignment_ = static_cast<uint32_t>(a->i);
  }
  Buf b;
  b.put<uint32_t>(0x46554747u);  // "GGUF"
  b.put<uint32_t>(3);
  b.put<uint64_t>(tensors_.size());
  b.put<uint64_t>(kv_.size());
  for (const auto& [k, v] : kv_) {
    if (k.empty() || k.size() > 65535) return Status::error("gguf writer: invalid key '" + k + "'");
    b.str(k);
    auto st = put_value(b, k, v);
    if (!st) return st;
  }
  uint64_t off = 0;
  for (auto& t : tensors_) {
    t.offset = off;
    off += (t.nbytes + alignment_ - 1) / alignment_ * alignment_;
    b.str(t.name);
    b.put<uint32_t>(static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) b.put<uint64_t>(static_cast<uint64_t>(d));
    b.put<uint32_t>(static_cast<uint32_t>(t.type));
    b.put<uint64_t>(t.offset);
  }
  path_ = path;
  tmp_path_ = path + ".tmp";
  f_ = std::fopen(tmp_path_.c_str(), "wb");
  if (!f_) return Status::error("gguf writer: cannot create " + tmp_path_ + ": " + std::strerror(errno));
  std::setvbuf(f_, nullptr, _IOFBF, 1 << 20);
  pos_ = 0;
  auto st = write_raw(b.s.data(), b.s.size());
  if (!st) return st;
  st = pad_to(alignment_);
  if (!st) return st;
  data_start_ = pos_;
  cur_ = 0;
  cur_written_ = 0;
  return Status::ok();
}

uint64_t GgufWriter::remaining_in_tensor() const {
  return cur_ < tensors_.size() ? tensors_[cur_].nbytes - cur_written_ : 0;
}

Status GgufWriter::write(const void* data, size_t n) {
  if (!f_) return Status::error("gguf writer: not open");
  const uint8_t* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    if (cur_ >= tensors_.size()) return Status::error("gguf writer: more tensor data than declared");
    const auto& t = tensors_[cur_];
    uint64_t take = std::min<uint64_t>(n, t.nbytes - cur_written_);
    auto st = write_raw(p, static_cast<size_t>(take));
    if (!st) return st;
    p += take;
    n -= static_cast<size_t>(take);
    cur_written_ += take;
    if (cur_written_ == t.nbytes) {
      st = pad_to(alignment_);
      if (!st) return st;
      ++cur_;
      cur_written_ = 0;
    }
  }
  return Status::ok();
}

Status GgufWriter::close() {
  if (!f_) return Status::error("gguf writer: not open");
  if (cur_ != tensors_.size()) {
    std::string name = tensors_[cur_].name;
    abort();
    return Status::error("gguf writer: tensor '" + name + "' was not written completely");
  }
  bool ok = std::fflush(f_) == 0;
  ok = std::fclose(f_) == 0 && ok;
  f_ = nullptr;
  if (!ok || std::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    std::string err = std::strerror(errno);
    std::remove(tmp_path_.c_str());
    return Status::error("gguf writer: cannot finish " + path_ + ": " + err);
  }
  return Status::ok();
}

void GgufWriter::abort() {
  if (!f_) return;
  std::fclose(f_);
  f_ = nullptr;
  std::remove(tmp_path_.c_str());
}

}  // namespace mlxr
