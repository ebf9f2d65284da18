// The Modelfile subset /api/create accepts: FROM, PARAMETER, TEMPLATE, SYSTEM, with """ blocks
// spanning lines. Other instructions are errors naming the line, so nothing is silently dropped.
#pragma once
#include <string>

#include "core/base/status.h"
#include "daemon/registry/registry.h"

namespace mlxr::server {

Status parse_modelfile(const std::string& text, std::string* from, registry::ImportOptions* opt);

}  // namespace mlxr::server
