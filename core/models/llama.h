#pragma once
#include "core/models/model.h"

namespace mlxr {
Expected<std::unique_ptr<Model>> load_llama(std::shared_ptr<const ModelFile> file, Backend& backend);
}
