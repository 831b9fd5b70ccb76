#include "protocols/grpc_path.h"

namespace l7tap::protocols {

GrpcMethod SplitGrpcPath(std::string_view path) {
  if (path.size() < 4 || path[0] != '/') return {};
  const size_t slash = path.find('/', 1);
  if (slash == std::string_view::npos || slash == 1 || slash + 1 == path.size()) return {};
  const std::string_view method = path.substr(slash + 1);
  if (method.find_first_of("/?") != std::string_view::npos) return {};
  return {path.substr(1, slash - 1), method};
}

}  // namespace l7tap::protocols
