// The model catalog: SQLite (WAL) tables models, tags, adapters, cache_entries, pulls; blobs
// are content-addressed files under <models_dir>/blobs. A model row is written in one
// transaction only after its blob is complete, verified and renamed into place, so a crash
// (kill -9) at any point leaves either no row or a whole one; leftovers are swept at open.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/base/status.h"

struct sqlite3;

namespace mlxr::registry {

struct ModelRecord {
  int64_t id = 0;
  std::string name;        // normalised "family:tag"
  std::string path;        // file or directory the engine opens
  std::string format;      // gguf, safetensors, llama2c
  int64_t size = 0;        // bytes on disk
  std::string sha256;      // of the file (directories: of the sorted per-file digests)
  std::string source;      // URL or original path
  bool owned = false;      // blob managed (deleted) by the registry
  std::string template_text;  // chat template override (Modelfile TEMPLATE)
  std::string system;         // default system prompt (Modelfile SYSTEM)
  nlohmann::json parameters = nlohmann::json::object();  // Modelfile PARAMETERs (Ollama option names)
  std::string arch, quant;
  int64_t n_params = 0;
  int n_ctx_train = 0;
  int n_embd = 0;
  bool is_embedding = false;
  bool is_demo = false;    // random weights (mlxr synth): labelled in names and listings
  int64_t created_at = 0, modified_at = 0;  // unix seconds
  std::vector<std::string> tags;
};

struct ImportOptions {
  std::string template_text, system;
  nlohmann::json parameters = nlohmann::json::object();
  bool is_demo = false;
  bool replace = false;  // overwrite an existing name
};

struct PullOptions {
  std::string url;            // http(s) URL, or "org/repo/file" / "hf.co/org/repo/file" (Hugging Face resolve)
  std::string name;           // "" = from the file name
  std::string sha256;         // expected digest ("" = trust X-Linked-Etag if any, else record)
  std::string hf_endpoint = "https://huggingface.co";
};

struct PullProgress {
  std::string status;   // "pulling manifest", "downloading", "verifying sha256 digest", "writing manifest", "success"
  std::string digest;
  uint64_t total = 0, completed = 0;
};

class Registry {
 public:
  static Expected<std::unique_ptr<Registry>> open(const std::string& models_dir);
  ~Registry();

  Expected<std::vector<ModelRecord>> list();
  Expected<std::optional<ModelRecord>> find(const std::string& name);
  // Registers a local file (GGUF, llama2.c .bin) or safetensors directory in place (not copied).
  Expected<ModelRecord> import_path(const std::string& path, const std::string& name, const ImportOptions& opt = {});
  // Downloads into blobs/ (resuming an earlier partial), verifies, then registers.
  Expected<ModelRecord> pull(const PullOptions& opt, const std::function<void(const PullProgress&)>& progress,
                             const std::atomic<bool>* cancel = nullptr);
  // A new name over an existing model's weights with its own template/system/parameters.
  Expected<ModelRecord> derive(const std::string& name, const std::string& from, const ImportOptions& opt);
  Status copy(const std::string& src, const std::string& dst);
  Status remove(const std::string& name);
  // Rows whose file vanished, orphan blobs, stale partials; returns a description of what was fixed.
  Expected<std::vector<std::string>> check_and_repair();

  const std::string& models_dir() const { return dir_; }
  std::string blobs_dir() const { return dir_ + "/blobs"; }
  // Resolves a pull spec to a URL (exposed for tests).
  static Expected<std::string> resolve_url(const std::string& spec, const std::string& hf_endpoint);

 private:
  Registry() = default;
  Status exec(const std::string& sql);
  Expected<ModelRecord> insert(ModelRecord rec, bool replace);
  Expected<std::vector<ModelRecord>> query(const std::string& where, const std::string& arg);

  std::mutex mu_;
  sqlite3* db_ = nullptr;
  std::string dir_;
};

nlohmann::json record_to_json(const ModelRecord& r);
// Fills format, arch, n_params, quant, n_ctx_train, n_embd, is_embedding from rec.path's metadata.
Status describe_model(ModelRecord& rec);

}  // namespace mlxr::registry
