#pragma once
// The optional YAML configuration file (--config): a map of flag names (without "--") to values.
#include <string>
#include <vector>

#include "common/result.h"

namespace l7tap::agent {

struct ConfigFileEntry {
  std::string key;                  // as written in the file
  std::string flag;                 // "--" + key, '_' read as '-'
  std::vector<std::string> values;  // a scalar: one; a list: one per item; a map: "KEY=V1,V2" per entry
};

// Reads FILE: a YAML map whose values are scalars, lists of scalars, or maps of scalars or lists (per-metric
// settings such as buckets). Anything else is an error naming the file and the key.
Result<std::vector<ConfigFileEntry>> ReadConfigFile(const std::string& path);

}  // namespace l7tap::agent
