#pragma once
// gRPC's :path is "/package.Service/Method" (the gRPC over HTTP/2 spec).
#include <string_view>

namespace l7tap::protocols {

struct GrpcMethod {
  std::string_view service;  // "package.Service"
  std::string_view method;   // "Method"
};

// Empty views when the path is not of that form.
GrpcMethod SplitGrpcPath(std::string_view path);

}  // namespace l7tap::protocols
