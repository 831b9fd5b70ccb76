#include "protocols/http_route.h"

#include <gtest/gtest.h>

#include <string>

namespace l7tap::protocols {
namespace {

TEST(TemplateRoute, KeepsPlainPaths) {
  EXPECT_EQ(TemplateRoute("/"), "/");
  EXPECT_EQ(TemplateRoute("/index.html"), "/index.html");
  EXPECT_EQ(TemplateRoute("/api/v2/users/"), "/api/v2/users/");
  EXPECT_EQ(TemplateRoute("/static//css/site.css"), "/static//css/site.css");
}

TEST(TemplateRoute, DropsQueryAndFragment) {
  EXPECT_EQ(TemplateRoute("/search?q=ebpf&page=2"), "/search");
  EXPECT_EQ(TemplateRoute("/docs/intro#install"), "/docs/intro");
  EXPECT_EQ(TemplateRoute("/a?x=/b/c#d"), "/a");
  EXPECT_EQ(TemplateRoute("?only=query"), "/");
  EXPECT_EQ(TemplateRoute(""), "/");
}

TEST(TemplateRoute, ReplacesNumericSegments) {
  EXPECT_EQ(TemplateRoute("/api/users/42"), "/api/users/{id}");
  EXPECT_EQ(TemplateRoute("/api/users/42/orders/9001?expand=items"), "/api/users/{id}/orders/{id}");
  EXPECT_EQ(TemplateRoute("/v1/items"), "/v1/items");  // not only digits
  EXPECT_EQ(TemplateRoute("/files/42.json"), "/files/42.json");
}

TEST(TemplateRoute, ReplacesLongHexIds) {
  EXPECT_EQ(TemplateRoute("/commits/4f9c2a1d"), "/commits/{id}");  // 8 hex digits
  EXPECT_EQ(TemplateRoute("/blobs/5D41402ABC4B2A76B9719D911017C592"), "/blobs/{id}");
  EXPECT_EQ(TemplateRoute("/commits/4f9c2a1"), "/commits/4f9c2a1");  // 7: too short to be an id
  EXPECT_EQ(TemplateRoute("/cafe"), "/cafe");
}

TEST(TemplateRoute, ReplacesUuids) {
  EXPECT_EQ(TemplateRoute("/sessions/123e4567-e89b-12d3-a456-426614174000/events"), "/sessions/{id}/events");
  EXPECT_EQ(TemplateRoute("/s/123E4567-E89B-12D3-A456-426614174000"), "/s/{id}");
  EXPECT_EQ(TemplateRoute("/s/123e4567-e89b-12d3-a456-42661417400"),
            "/s/123e4567-e89b-12d3-a456-42661417400");
  EXPECT_EQ(TemplateRoute("/s/123e4567xe89b-12d3-a456-426614174000"),
            "/s/123e4567xe89b-12d3-a456-426614174000");
}

TEST(TemplateRoute, KeepsAtMostEightSegments) {
  EXPECT_EQ(TemplateRoute("/a/b/c/d/e/f/g/h"), "/a/b/c/d/e/f/g/h");
  EXPECT_EQ(TemplateRoute("/a/b/c/d/e/f/g/h/i/j/k"), "/a/b/c/d/e/f/g/h");
  EXPECT_EQ(TemplateRoute("/1/2/3/4/5/6/7/8/9"), "/{id}/{id}/{id}/{id}/{id}/{id}/{id}/{id}");
}

TEST(TemplateRoute, KeepsAtMost128Chars) {
  const std::string long_segment(300, 'x');
  const std::string route = TemplateRoute("/files/" + long_segment + "/raw");
  EXPECT_EQ(route.size(), 128u);
  EXPECT_EQ(route, ("/files/" + long_segment).substr(0, 128));
}

TEST(TemplateRoute, AbsoluteFormKeepsOnlyThePath) {
  EXPECT_EQ(TemplateRoute("http://example.com/api/users/7?x=1"), "/api/users/{id}");
  EXPECT_EQ(TemplateRoute("https://example.com:8443"), "/");
  EXPECT_EQ(TemplateRoute("http://example.com?q=1"), "/");
}

TEST(TemplateRoute, TargetsWithoutPath) {
  EXPECT_EQ(TemplateRoute("*"), "*");                // OPTIONS * HTTP/1.1
  EXPECT_EQ(TemplateRoute("example.com:443"), "*");  // CONNECT: the host must not become a label
}

}  // namespace
}  // namespace l7tap::protocols
