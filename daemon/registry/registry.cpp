#include "daemon/registry/registry.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <set>

#include "core/formats/model_file.h"
#include "daemon/registry/http_fetch.h"
#include "daemon/registry/names.h"
#include "daemon/registry/sha256.h"

namespace fs = std::filesystem;

namespace mlxr::registry {

namespace {

int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// SQLite statement with RAII finalize.
struct Stmt {
  sqlite3_stmt* s = nullptr;
  Stmt(sqlite3* db, const std::string& sql, Status* st) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) != SQLITE_OK)
      *st = Status::error(std::string("registry: sqlite: ") + sqlite3_errmsg(db) + " in: " + sql);
  }
  ~Stmt() { sqlite3_finalize(s); }
  void bind(int i, const std::string& v) { sqlite3_bind_text(s, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT); }
  void bind(int i, int64_t v) { sqlite3_bind_int64(s, i, v); }
  std::string text(int i) {
    auto p = sqlite3_column_text(s, i);
    return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(s, i)) : std::string();
  }
  int64_t i64(int i) { return sqlite3_column_int64(s, i); }
};

const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS models(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  path TEXT NOT NULL,
  format TEXT NOT NULL,
  size INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  source TEXT NOT NULL DEFAULT '',
  owned INTEGER NOT NULL DEFAULT 0,
  template TEXT NOT NULL DEFAULT '',
  system TEXT NOT NULL DEFAULT '',
  parameters TEXT NOT NULL DEFAULT '{}',
  arch TEXT NOT NULL DEFAULT '',
  quant TEXT NOT NULL DEFAULT '',
  n_params INTEGER NOT NULL DEFAULT 0,
  n_ctx_train INTEGER NOT NULL DEFAULT 0,
  n_embd INTEGER NOT NULL DEFAULT 0,
  is_embedding INTEGER NOT NULL DEFAULT 0,
  is_demo INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  modified_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tags(
  model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
  tag TEXT NOT NULL,
  PRIMARY KEY(model_id, tag)
);
CREATE TABLE IF NOT EXISTS adapters(
  id INTEGER PRIMARY KEY,
  model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  path TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  scale REAL NOT NULL DEFAULT 1.0,
  UNIQUE(model_id, name)
);
CREATE TABLE IF NOT EXISTS cache_entries(
  id INTEGER PRIMARY KEY,
  model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  path TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  last_used INTEGER NOT NULL,
  UNIQUE(model_id, key)
);
CREATE TABLE IF NOT EXISTS pulls(
  url TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  partial_path TEXT NOT NULL,
  started_at INTEGER NOT NULL
);
)sql";

const char* kColumns =
    "id,name,path,format,size,sha256,source,owned,template,system,parameters,arch,quant,n_params,"
    "n_ctx_train,n_embd,is_embedding,is_demo,created_at,modified_at";

bool fsync_path(const std::string& p, bool dir) {
  int fd = ::open(p.c_str(), dir ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) return false;
  bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

Registry::~Registry() {
  if (db_) sqlite3_close(db_);
}

Status Registry::exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string m = err ? err : "unknown";
    sqlite3_free(err);
    return Status::error("registry: sqlite: " + m);
  }
  return Status::ok();
}

Expected<std::unique_ptr<Registry>> Registry::open(const std::string& models_dir) {
  std::error_code ec;
  fs::create_directories(models_dir + "/blobs", ec);
  if (ec) return make_error("registry: cannot create " + models_dir + "/blobs: " + ec.message());
  std::unique_ptr<Registry> r(new Registry());
  r->dir_ = fs::absolute(models_dir).lexically_normal().string();
  while (r->dir_.size() > 1 && r->dir_.back() == '/') r->dir_.pop_back();
  std::string db = r->dir_ + "/registry.db";
  if (sqlite3_open_v2(db.c_str(), &r->db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr) != SQLITE_OK)
    return make_error("registry: cannot open " + db + ": " + (r->db_ ? sqlite3_errmsg(r->db_) : "out of memory"));
  sqlite3_busy_timeout(r->db_, 5000);
  MLXR_RETURN_IF_ERROR(r->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"));
  {
    Status st;
    Stmt q(r->db_, "PRAGMA quick_check", &st);
    MLXR_RETURN_IF_ERROR(st);
    if (sqlite3_step(q.s) == SQLITE_ROW && q.text(0) != "ok")
      return make_error("registry: " + db + " is corrupt (" + q.text(0) + "); move it away to start a new catalog");
  }
  MLXR_RETURN_IF_ERROR(r->exec(kSchema));
  return r;
}

Expected<std::vector<ModelRecord>> Registry::query(const std::string& where, const std::string& arg) {
  std::vector<ModelRecord> out;
  Status st;
  Stmt q(db_, std::string("SELECT ") + kColumns + " FROM models " + where + " ORDER BY name", &st);
  MLXR_RETURN_IF_ERROR(st);
  if (!arg.empty()) q.bind(1, arg);
  int rc;
  while ((rc = sqlite3_step(q.s)) == SQLITE_ROW) {
    ModelRecord m;
    m.id = q.i64(0);
    m.name = q.text(1);
    m.path = q.text(2);
    m.format = q.text(3);
    m.size = q.i64(4);
    m.sha256 = q.text(5);
    m.source = q.text(6);
    m.owned = q.i64(7);
    m.template_text = q.text(8);
    m.system = q.text(9);
    m.parameters = nlohmann::json::parse(q.text(10), nullptr, false);
    if (!m.parameters.is_object()) m.parameters = nlohmann::json::object();
    m.arch = q.text(11);
    m.quant = q.text(12);
    m.n_params = q.i64(13);
    m.n_ctx_train = static_cast<int>(q.i64(14));
    m.n_embd = static_cast<int>(q.i64(15));
    m.is_embedding = q.i64(16);
    m.is_demo = q.i64(17);
    m.created_at = q.i64(18);
    m.modified_at = q.i64(19);
    out.push_back(std::move(m));
  }
  if (rc != SQLITE_DONE) return make_error(std::string("registry: sqlite: ") + sqlite3_errmsg(db_));
  for (auto& m : out) {
    Stmt t(db_, "SELECT tag FROM tags WHERE model_id=? ORDER BY tag", &st);
    MLXR_RETURN_IF_ERROR(st);
    t.bind(1, m.id);
    while (sqlite3_step(t.s) == SQLITE_ROW) m.tags.push_back(t.text(0));
  }
  return out;
}

Expected<std::vector<ModelRecord>> Registry::list() {
  std::lock_guard<std::mutex> lk(mu_);
  return query("", "");
}

Expected<std::optional<ModelRecord>> Registry::find(const std::string& raw) {
  MLXR_ASSIGN_OR_RETURN(std::string name, normalize_name(raw));
  std::lock_guard<std::mutex> lk(mu_);
  MLXR_ASSIGN_OR_RETURN(auto rows, query("WHERE name=?", name));
  if (rows.empty()) return std::optional<ModelRecord>();
  return std::optional<ModelRecord>(rows[0]);
}

Status describe_model(ModelRecord& rec) {
  auto mf = open_model(rec.path);
  if (!mf) return Status::error("registry: " + rec.path + " is not a loadable model: " + mf.error());
  const ModelFile& m = **mf;
  rec.format = m.format;
  rec.arch = m.hparams.arch;
  rec.n_ctx_train = m.hparams.n_ctx_train;
  rec.n_embd = m.hparams.n_embd;
  int64_t n = 0;
  std::map<std::string, int64_t> by_type;
  for (const auto& [name, t] : m.tensors) {
    n += t.n_elements();
    if (t.n_dims >= 2) by_type[dtype_name(t.type)] += t.n_elements();
  }
  rec.n_params = n;
  std::string best;
  int64_t most = -1;
  for (auto& [k, v] : by_type)
    if (v > most) most = v, best = k;
  rec.quant = best;
  std::string lower;
  for (char c : best) lower += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  rec.quant = lower;
  if (m.gguf) {
    // llama.cpp's llama_ftype names, as Ollama reports quantization_level.
    static const std::map<int64_t, const char*> kFtype = {
        {0, "F32"}, {1, "F16"}, {2, "Q4_0"}, {3, "Q4_1"}, {7, "Q8_0"}, {8, "Q5_0"}, {9, "Q5_1"},
        {10, "Q2_K"}, {11, "Q3_K_S"}, {12, "Q3_K_M"}, {13, "Q3_K_L"}, {14, "Q4_K_S"}, {15, "Q4_K_M"},
        {16, "Q5_K_S"}, {17, "Q5_K_M"}, {18, "Q6_K"}, {19, "IQ2_XXS"}, {20, "IQ2_XS"}, {21, "Q2_K_S"},
        {22, "IQ3_XS"}, {23, "IQ3_XXS"}, {24, "IQ1_S"}, {25, "IQ4_NL"}, {26, "IQ3_S"}, {27, "IQ3_M"},
        {28, "IQ2_S"}, {29, "IQ2_M"}, {30, "IQ4_XS"}, {31, "IQ1_M"}, {32, "BF16"}};
    if (auto ft = m.gguf->get_int("general.file_type")) {
      auto it = kFtype.find(*ft);
      if (it != kFtype.end()) rec.quant = it->second;
    }
    auto pooling = m.gguf->get_int(rec.arch + ".pooling_type");
    auto arch_is_encoder = rec.arch == "bert" || rec.arch == "nomic-bert";
    rec.is_embedding = arch_is_encoder || (pooling && *pooling > 0);
  }
  return Status::ok();
}

static Expected<std::pair<int64_t, std::string>> size_and_digest(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    std::vector<std::string> files;
    int64_t size = 0;
    for (auto& e : fs::recursive_directory_iterator(path, ec))
      if (e.is_regular_file()) files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    Sha256 h;
    for (auto& f : files) {
      MLXR_ASSIGN_OR_RETURN(std::string d, sha256_file(f));
      std::string rel = fs::relative(f, path).string();
      h.update(rel.data(), rel.size());
      h.update(d.data(), d.size());
      size += static_cast<int64_t>(fs::file_size(f, ec));
    }
    return std::make_pair(size, h.hex_digest());
  }
  if (!fs::is_regular_file(path, ec)) return make_error("registry: " + path + " is not a file or directory");
  MLXR_ASSIGN_OR_RETURN(std::string d, sha256_file(path));
  return std::make_pair(static_cast<int64_t>(fs::file_size(path, ec)), d);
}

Expected<ModelRecord> Registry::insert(ModelRecord rec, bool replace) {
  std::lock_guard<std::mutex> lk(mu_);
  MLXR_RETURN_IF_ERROR(exec("BEGIN IMMEDIATE"));
  auto fail = [&](Status s) -> Expected<ModelRecord> {
    (void)exec("ROLLBACK");
    return make_error(s.message());
  };
  {
    MLXR_ASSIGN_OR_RETURN(auto existing, query("WHERE name=?", rec.name));
    if (!existing.empty()) {
      if (!replace) return fail(Status::error("registry: a model named '" + rec.name + "' already exists (delete it first)"));
      Status st;
      Stmt d(db_, "DELETE FROM models WHERE id=?", &st);
      if (!st) return fail(st);
      d.bind(1, existing[0].id);
      if (sqlite3_step(d.s) != SQLITE_DONE) return fail(Status::error(std::string("registry: sqlite: ") + sqlite3_errmsg(db_)));
    }
  }
  Status st;
  Stmt q(db_,
         "INSERT INTO models(name,path,format,size,sha256,source,owned,template,system,parameters,arch,quant,"
         "n_params,n_ctx_train,n_embd,is_embedding,is_demo,created_at,modified_at) "
         "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
         &st);
  if (!st) return fail(st);
  int64_t t = now_s();
  if (!rec.created_at) rec.created_at = t;
  rec.modified_at = t;
  q.bind(1, rec.name);
  q.bind(2, rec.path);
  q.bind(3, rec.format);
  q.bind(4, rec.size);
  q.bind(5, rec.sha256);
  q.bind(6, rec.source);
  q.bind(7, static_cast<int64_t>(rec.owned));
  q.bind(8, rec.template_text);
  q.bind(9, rec.system);
  q.bind(10, rec.parameters.dump());
  q.bind(11, rec.arch);
  q.bind(12, rec.quant);
  q.bind(13, rec.n_params);
  q.bind(14, static_cast<int64_t>(rec.n_ctx_train));
  q.bind(15, static_cast<int64_t>(rec.n_embd));
  q.bind(16, static_cast<int64_t>(rec.is_embedding));
  q.bind(17, static_cast<int64_t>(rec.is_demo));
  q.bind(18, rec.created_at);
  q.bind(19, rec.modified_at);
  if (sqlite3_step(q.s) != SQLITE_DONE) return fail(Status::error(std::string("registry: sqlite: ") + sqlite3_errmsg(db_)));
  rec.id = sqlite3_last_insert_rowid(db_);
  std::string tag = rec.name.substr(rec.name.rfind(':') + 1);
  Stmt tq(db_, "INSERT INTO tags(model_id, tag) VALUES(?, ?)", &st);
  if (!st) return fail(st);
  tq.bind(1, rec.id);
  tq.bind(2, tag);
  if (sqlite3_step(tq.s) != SQLITE_DONE) return fail(Status::error(std::string("registry: sqlite: ") + sqlite3_errmsg(db_)));
  MLXR_RETURN_IF_ERROR(exec("COMMIT"));
  rec.tags = {tag};
  return rec;
}

Expected<ModelRecord> Registry::import_path(const std::string& path, const std::string& raw_name, const ImportOptions& opt) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return make_error("registry: " + path + " does not exist");
  ModelRecord rec;
  rec.path = fs::absolute(path).lexically_normal().string();
  MLXR_ASSIGN_OR_RETURN(rec.name, normalize_name(raw_name.empty() ? name_from_basename(rec.path) : raw_name));
  MLXR_RETURN_IF_ERROR(describe_model(rec));
  MLXR_ASSIGN_OR_RETURN(auto sd, size_and_digest(rec.path));
  rec.size = sd.first;
  rec.sha256 = sd.second;
  rec.source = rec.path;
  rec.template_text = opt.template_text;
  rec.system = opt.system;
  rec.parameters = opt.parameters;
  rec.is_demo = opt.is_demo;
  return insert(std::move(rec), opt.replace);
}

Expected<std::string> Registry::resolve_url(const std::string& spec, const std::string& hf) {
  if (spec.rfind("http://", 0) == 0 || spec.rfind("https://", 0) == 0) return spec;
  std::string s = spec;
  if (s.rfind("hf.co/", 0) == 0) s = s.substr(6);
  else if (s.rfind("huggingface.co/", 0) == 0) s = s.substr(15);
  // org/repo/path/to/file[@revision]
  std::string rev = "main";
  size_t at = s.rfind('@');
  if (at != std::string::npos) {
    rev = s.substr(at + 1);
    s = s.substr(0, at);
  }
  size_t a = s.find('/');
  size_t b = a == std::string::npos ? a : s.find('/', a + 1);
  if (b == std::string::npos || b + 1 >= s.size())
    return make_error("pull: '" + spec + "' is neither a URL nor org/repo/file (e.g. TheBloke/x-GGUF/x.Q4_K_M.gguf)");
  std::string file = s.substr(b + 1);
  if (file.find("..") != std::string::npos) return make_error("pull: '" + spec + "': '..' is not allowed in a file path");
  std::string base = hf;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/" + s.substr(0, b) + "/resolve/" + rev + "/" + file;
}

Expected<ModelRecord> Registry::pull(const PullOptions& opt, const std::function<void(const PullProgress&)>& progress,
                                     const std::atomic<bool>* cancel) {
  auto report = [&](PullProgress p) {
    if (progress) progress(p);
  };
  report({"pulling manifest", "", 0, 0});
  MLXR_ASSIGN_OR_RETURN(std::string url, resolve_url(opt.url, opt.hf_endpoint));
  MLXR_ASSIGN_OR_RETURN(std::string name, normalize_name(opt.name.empty() ? name_from_basename(url) : opt.name));
  if (!opt.sha256.empty() && !is_sha256_hex(opt.sha256))
    return make_error("pull: sha256 must be 64 lowercase hex digits, got '" + opt.sha256 + "'");
  std::string partial = blobs_dir() + "/partial-" + sha256_string(url).substr(0, 24);
  {
    std::lock_guard<std::mutex> lk(mu_);
    Status st;
    Stmt q(db_, "INSERT OR REPLACE INTO pulls(url,name,partial_path,started_at) VALUES(?,?,?,?)", &st);
    MLXR_RETURN_IF_ERROR(st);
    q.bind(1, url);
    q.bind(2, name);
    q.bind(3, partial);
    q.bind(4, now_s());
    if (sqlite3_step(q.s) != SQLITE_DONE) return make_error(std::string("registry: sqlite: ") + sqlite3_errmsg(db_));
  }
  std::string digest_label = opt.sha256.empty() ? "" : "sha256:" + opt.sha256;
  MLXR_ASSIGN_OR_RETURN(FetchResult fr, fetch_to_file(url, partial, [&](const FetchProgress& p) {
    report({"downloading", digest_label, p.total, p.completed});
  }, cancel));
  std::string expected = opt.sha256.empty() ? fr.etag_sha256 : opt.sha256;
  report({"verifying sha256 digest", digest_label, fr.bytes, fr.bytes});
  MLXR_ASSIGN_OR_RETURN(std::string got, sha256_file(partial));
  if (!expected.empty() && got != expected) {
    std::error_code ec;
    fs::remove(partial, ec);  // a wrong file must not be resumed from
    return make_error("pull: sha256 mismatch for " + url + ": expected " + expected + ", got " + got +
                      " (the partial download was deleted)");
  }
  std::string blob = blobs_dir() + "/sha256-" + got;
  // Keep the extension: the format loader dispatches on it for llama2.c .bin files.
  std::string ext = fs::path(url.substr(0, url.find_first_of("?#"))).extension().string();
  if (ext == ".gguf" || ext == ".bin") blob += ext;
  fsync_path(partial, false);
  std::error_code ec;
  fs::rename(partial, blob, ec);
  if (ec) return make_error("pull: cannot move " + partial + " to " + blob + ": " + ec.message());
  fsync_path(blobs_dir(), true);
  report({"writing manifest", "sha256:" + got, fr.bytes, fr.bytes});
  ModelRecord rec;
  rec.name = name;
  rec.path = blob;
  rec.sha256 = got;
  rec.size = static_cast<int64_t>(fr.bytes);
  rec.source = url;
  rec.owned = true;
  Status d = describe_model(rec);
  if (!d) {
    fs::remove(blob, ec);
    return make_error(d.message());
  }
  auto inserted = insert(std::move(rec), true);
  if (!inserted) return inserted;
  {
    std::lock_guard<std::mutex> lk(mu_);
    Status st;
    Stmt q(db_, "DELETE FROM pulls WHERE url=?", &st);
    if (st) {
      q.bind(1, url);
      sqlite3_step(q.s);
    }
  }
  report({"success", "sha256:" + got, inserted->size, inserted->size});
  return inserted;
}

Expected<ModelRecord> Registry::derive(const std::string& raw_name, const std::string& from, const ImportOptions& opt) {
  MLXR_ASSIGN_OR_RETURN(std::string name, normalize_name(raw_name));
  MLXR_ASSIGN_OR_RETURN(auto src, find(from));
  if (!src) return make_error("registry: model '" + from + "' not found");
  ModelRecord rec = *src;
  rec.id = 0;
  rec.name = name;
  rec.created_at = 0;
  rec.owned = false;  // blobs are shared and reference-counted by path at delete time
  if (!opt.template_text.empty()) rec.template_text = opt.template_text;
  if (!opt.system.empty()) rec.system = opt.system;
  for (auto& [k, v] : opt.parameters.items()) rec.parameters[k] = v;
  rec.owned = src->owned;
  return insert(std::move(rec), opt.replace);
}

Status Registry::copy(const std::string& src, const std::string& dst) {
  auto r = derive(dst, src, {});
  return r ? Status::ok() : Status::error(r.error());
}

Status Registry::remove(const std::string& raw) {
  MLXR_ASSIGN_OR_RETURN(std::string name, normalize_name(raw));
  std::string blob_to_delete;
  {
    std::lock_guard<std::mutex> lk(mu_);
    MLXR_ASSIGN_OR_RETURN(auto rows, query("WHERE name=?", name));
    if (rows.empty()) return Status::error("registry: model '" + name + "' not found");
    MLXR_RETURN_IF_ERROR(exec("BEGIN IMMEDIATE"));
    Status st;
    Stmt d(db_, "DELETE FROM models WHERE id=?", &st);
    if (!st) {
      (void)exec("ROLLBACK");
      return st;
    }
    d.bind(1, rows[0].id);
    if (sqlite3_step(d.s) != SQLITE_DONE) {
      (void)exec("ROLLBACK");
      return Status::error(std::string("registry: sqlite: ") + sqlite3_errmsg(db_));
    }
    MLXR_RETURN_IF_ERROR(exec("COMMIT"));
    if (rows[0].owned) {
      MLXR_ASSIGN_OR_RETURN(auto others, query("WHERE path=?", rows[0].path));
      if (others.empty()) blob_to_delete = rows[0].path;
    }
  }
  // The row is gone first: a crash here leaves an orphan blob, which check_and_repair removes.
  if (!blob_to_delete.empty()) {
    std::error_code ec;
    fs::remove(blob_to_delete, ec);
  }
  return Status::ok();
}

Expected<std::vector<std::string>> Registry::check_and_repair() {
  std::vector<std::string> fixed;
  std::lock_guard<std::mutex> lk(mu_);
  MLXR_ASSIGN_OR_RETURN(auto rows, query("", ""));
  std::set<std::string> referenced;
  for (auto& r : rows) {
    std::error_code ec;
    if (!fs::exists(r.path, ec)) {
      Status st;
      Stmt d(db_, "DELETE FROM models WHERE id=?", &st);
      MLXR_RETURN_IF_ERROR(st);
      d.bind(1, r.id);
      sqlite3_step(d.s);
      fixed.push_back("removed '" + r.name + "': its file " + r.path + " is gone");
    } else {
      referenced.insert(r.path);
    }
  }
  std::set<std::string> partials;
  {
    Status st;
    Stmt q(db_, "SELECT partial_path FROM pulls", &st);
    MLXR_RETURN_IF_ERROR(st);
    while (sqlite3_step(q.s) == SQLITE_ROW) partials.insert(q.text(0));
  }
  std::error_code ec;
  for (auto& e : fs::directory_iterator(blobs_dir(), ec)) {
    std::string p = e.path().string();
    std::string fn = e.path().filename().string();
    if (fn.rfind("sha256-", 0) == 0 && !referenced.count(p)) {
      fs::remove(p, ec);
      fixed.push_back("removed orphan blob " + fn);
    } else if (fn.rfind("partial-", 0) == 0 && !partials.count(p)) {
      fs::remove(p, ec);
      fixed.push_back("removed stale partial " + fn);
    }
  }
  return fixed;
}

nlohmann::json record_to_json(const ModelRecord& r) {
  return {{"name", r.name}, {"path", r.path}, {"format", r.format}, {"size", r.size}, {"sha256", r.sha256},
          {"source", r.source}, {"arch", r.arch}, {"quant", r.quant}, {"n_params", r.n_params},
          {"n_ctx_train", r.n_ctx_train}, {"is_embedding", r.is_embedding}, {"is_demo", r.is_demo},
          {"template", r.template_text}, {"system", r.system}, {"parameters", r.parameters},
          {"created_at", r.created_at}, {"modified_at", r.modified_at}};
}

}  // namespace mlxr::registry
