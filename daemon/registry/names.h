// Model names, Ollama style: "family[:tag]", optionally with "/" namespaces ("org/model:q4").
// Names become no file paths (blobs are content-addressed), but are still validated so a name
// can never smuggle "..", control characters or absolute paths into logs, URLs or the CLI.
#pragma once
#include <string>

#include "core/base/status.h"

namespace mlxr::registry {

// "Stories" -> "stories:latest". Errors explain the allowed alphabet.
Expected<std::string> normalize_name(const std::string& raw);
// A valid name derived from a file or URL basename ("stories260K-f32.gguf" -> "stories260k-f32:latest").
std::string name_from_basename(const std::string& path_or_url);

}  // namespace mlxr::registry
