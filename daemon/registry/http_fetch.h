// Blocking HTTP(S) download into a file with resume (Range), redirects and progress. Runs on a
// worker thread, never on the server's I/O threads.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "core/base/status.h"

namespace mlxr::registry {

struct FetchProgress {
  uint64_t completed = 0;  // bytes in the file so far (including a resumed prefix)
  uint64_t total = 0;      // 0 when unknown
};

struct FetchResult {
  uint64_t bytes = 0;
  bool resumed = false;       // the server honoured a Range request
  std::string etag_sha256;    // X-Linked-Etag / ETag when it is a bare sha256 (Hugging Face LFS)
  std::string final_url;
};

struct ParsedUrl {
  bool https = false;
  std::string host, port, target;
};
Expected<ParsedUrl> parse_url(const std::string& url);

// Appends to `dest` when it exists and the server answers 206 to a Range request; otherwise
// truncates and downloads from the start. `cancel` (optional) aborts between chunks.
Expected<FetchResult> fetch_to_file(const std::string& url, const std::string& dest,
                                    const std::function<void(const FetchProgress&)>& progress,
                                    const std::atomic<bool>* cancel = nullptr);

}  // namespace mlxr::registry
