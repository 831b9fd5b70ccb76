#include "agent/config_file.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>

namespace l7tap::agent {
namespace {

// A YAML scalar or a list of scalars, as the flag's values.
Result<std::vector<std::string>> Scalars(const YAML::Node& node) {
  std::vector<std::string> out;
  if (node.IsScalar()) {
    out.push_back(node.Scalar());
    return out;
  }
  if (!node.IsSequence()) return Error{"expected a value or a list of values"};
  for (const YAML::Node& item : node) {
    if (!item.IsScalar()) return Error{"expected a list of plain values, found a nested list or map"};
    out.push_back(item.Scalar());
  }
  return out;
}

std::string Joined(const std::vector<std::string>& values) {
  std::string out;
  for (const std::string& v : values) out += (out.empty() ? "" : ",") + v;
  return out;
}

}  // namespace

Result<std::vector<ConfigFileEntry>> ReadConfigFile(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return Error{"--config " + path + ": cannot read it (check the path and its permissions)"};
  } catch (const YAML::Exception& e) {
    return Error{"--config " + path + ": not valid YAML: " + e.what()};
  }
  std::vector<ConfigFileEntry> entries;
  if (root.IsNull()) return entries;  // an empty file sets nothing
  if (!root.IsMap())
    return Error{"--config " + path +
                 ": expected a map of settings (flag names without --, e.g. 'listen: :9464')"};
  for (const auto& kv : root) {
    ConfigFileEntry e;
    if (!kv.first.IsScalar()) return Error{"--config " + path + ": a key is not a plain name"};
    e.key = kv.first.Scalar();
    std::string name = e.key;
    std::replace(name.begin(), name.end(), '_', '-');
    e.flag = "--" + name;
    const YAML::Node& value = kv.second;
    const std::string where = "--config " + path + ": " + e.key + ": ";
    if (value.IsNull()) return Error{where + "no value given (remove the key for the default)"};
    if (value.IsMap()) {
      for (const auto& inner : value) {
        if (!inner.first.IsScalar()) return Error{where + "a key of its map is not a plain name"};
        auto values = Scalars(inner.second);
        if (!values) return Error{where + inner.first.Scalar() + ": " + values.error()};
        e.values.push_back(inner.first.Scalar() + "=" + Joined(*values));
      }
    } else {
      auto values = Scalars(value);
      if (!values) return Error{where + values.error()};
      e.values = std::move(*values);
    }
    entries.push_back(std::move(e));
  }
  return entries;
}

}  // namespace l7tap::agent
