#include "protocols/http_route.h"

#include <gtest/gtest.h>

#include <set>
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
  EXPECT_EQ(TemplateRoute("/v1/items"), "/v1/items");              // not only digits
  EXPECT_EQ(TemplateRoute("/files/42.json"), "/files/{id}.json");  // a generated stem keeps its extension
}

TEST(TemplateRoute, ReplacesLongHexIds) {
  EXPECT_EQ(TemplateRoute("/commits/4f9c2a1d"), "/commits/{id}");  // 8 hex digits
  EXPECT_EQ(TemplateRoute("/blobs/5D41402ABC4B2A76B9719D911017C592"), "/blobs/{id}");
  EXPECT_EQ(TemplateRoute("/commits/deadbee"), "/commits/deadbee");  // 7: too short to be an id
  // 7 hex digits are too few for the hex rule, but letters and digits alternate 5 times.
  EXPECT_EQ(TemplateRoute("/commits/4f9c2a1"), "/commits/{id}");
  EXPECT_EQ(TemplateRoute("/cafe"), "/cafe");
}

TEST(TemplateRoute, ReplacesUuids) {
  EXPECT_EQ(TemplateRoute("/sessions/123e4567-e89b-12d3-a456-426614174000/events"), "/sessions/{id}/events");
  EXPECT_EQ(TemplateRoute("/s/123E4567-E89B-12D3-A456-426614174000"), "/s/{id}");
  // Not UUIDs, but with 8 or more hex digits in a piece: ids all the same.
  EXPECT_EQ(TemplateRoute("/s/123e4567-e89b-12d3-a456-42661417400"), "/s/{id}");
  EXPECT_EQ(TemplateRoute("/s/123e4567xe89b-12d3-a456-426614174000"), "/s/{id}");
  EXPECT_EQ(TemplateRoute("/s/abcdefab-abcd-abcd-abcd-abcdefabcdef"), "/s/{id}");  // a UUID without digits
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

TEST(TemplateRoute, GitHubApiPaths) {
  EXPECT_EQ(TemplateRoute("/repos/torvalds/linux/commits/4f9c2a1d3e5b7a9c0d1e2f3a4b5c6d7e8f9a0b1c"),
            "/repos/torvalds/linux/commits/{id}");
  EXPECT_EQ(TemplateRoute("/repos/octocat/Hello-World/issues/1347/comments?per_page=100"),
            "/repos/octocat/Hello-World/issues/{id}/comments");
  EXPECT_EQ(TemplateRoute("/repos/octocat/Hello-World/git/refs/heads/main"),
            "/repos/octocat/Hello-World/git/refs/heads/main");
  EXPECT_EQ(TemplateRoute("/repos/octocat/Hello-World/actions/runs/6234567890/jobs"),
            "/repos/octocat/Hello-World/actions/runs/{id}/jobs");
  EXPECT_EQ(TemplateRoute("/repos/octocat/Hello-World/compare/v1.2.3...v1.3.0"),
            "/repos/octocat/Hello-World/compare/v1.2.3...v1.3.0");
  EXPECT_EQ(TemplateRoute("/torvalds/linux/blob/v6.8/kernel/sched/core.c"),
            "/torvalds/linux/blob/v6.8/kernel/sched/core.c");
}

TEST(TemplateRoute, KubernetesApiPaths) {
  EXPECT_EQ(TemplateRoute("/api/v1/namespaces/default/pods/web-7fb96c846b-8xkzq/log?follow=true"),
            "/api/v1/namespaces/default/pods/{id}/log");
  EXPECT_EQ(TemplateRoute("/apis/apps/v1/namespaces/kube-system/deployments/coredns"),
            "/apis/apps/v1/namespaces/kube-system/deployments/coredns");
  EXPECT_EQ(TemplateRoute("/apis/batch/v1beta1/namespaces/prod/cronjobs"),
            "/apis/batch/v1beta1/namespaces/prod/cronjobs");
  EXPECT_EQ(TemplateRoute("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-1"),
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-1");
  EXPECT_EQ(TemplateRoute("/api/v1/namespaces/default/pods?watch=1&resourceVersion=12345"),
            "/api/v1/namespaces/default/pods");
  EXPECT_EQ(TemplateRoute("/api/v1/namespaces/default/pods/6ba7b810-9dad-11d1-80b4-00c04fd430c8"),
            "/api/v1/namespaces/default/pods/{id}");
}

TEST(TemplateRoute, ObjectStoreAndRegistryPaths) {
  EXPECT_EQ(TemplateRoute("/my-bucket/logs/2024-01-31/app-9f86d081884c7d65.log.gz"),
            "/my-bucket/logs/{date}/{id}.log.gz");
  EXPECT_EQ(TemplateRoute("/my-bucket/photos/2024/01/31/IMG_20240131_123456.JPG"),
            "/my-bucket/photos/{id}/{id}/{id}/{id}.JPG");
  EXPECT_EQ(TemplateRoute("/uploads/6ba7b810-9dad-11d1-80b4-00c04fd430c8/original.png?X-Amz-Signature=abc"),
            "/uploads/{id}/original.png");
  EXPECT_EQ(TemplateRoute("/v2/library/nginx/manifests/"
                          "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            "/v2/library/nginx/manifests/{id}");
  EXPECT_EQ(TemplateRoute("/v2/library/nginx/blobs/"
                          "sha256%3Ae3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            "/v2/library/nginx/blobs/{id}");
  EXPECT_EQ(TemplateRoute("/v2/library/nginx/manifests/1.25-alpine"),
            "/v2/library/nginx/manifests/1.25-alpine");
}

TEST(TemplateRoute, RestApiPaths) {
  EXPECT_EQ(TemplateRoute("/api/v1/users/alice%40example.com/settings"), "/api/v1/users/{email}/settings");
  EXPECT_EQ(TemplateRoute("/api/v2/orders/ORD12345/items/3"), "/api/v2/orders/{id}/items/{id}");
  EXPECT_EQ(TemplateRoute("/v1/customers/cus_NffrFeUfNV2Hib/sources"), "/v1/customers/{id}/sources");
  EXPECT_EQ(TemplateRoute("/auth/verify/eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
                          "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
            "/auth/verify/{id}");
  EXPECT_EQ(TemplateRoute("/reports/daily/2024-01-31"), "/reports/daily/{date}");
  EXPECT_EQ(TemplateRoute("/events/2024-01-31T12:00:00Z/12:30:00"), "/events/{date}/{time}");
  EXPECT_EQ(TemplateRoute("/invite/dXNlcjE="), "/invite/{id}");
  EXPECT_EQ(TemplateRoute("/static/js/main.8f3a2b1c.js"), "/static/js/{id}.js");
  EXPECT_EQ(TemplateRoute("/hosts/10.0.0.1/status"), "/hosts/{id}/status");
}

TEST(TemplateRoute, KeepsWordsVersionsAndNames) {
  for (const char* path :
       {"/healthz", "/metrics", "/robots.txt", "/favicon.ico", "/oauth2/authorize",
        "/download/x86_64/utf-8/html5", "/apis/v1beta1/ipv6", "/users/alice/profile",
        "/users/bob-smith/profile", "/users/j.doe/profile", "/docs/python-3.12.1/index.html"}) {
    EXPECT_EQ(TemplateRoute(path), path);
  }
}

// Names as user names are: letters only, so that no heuristic can template them.
std::string Name(int i) {
  std::string name = "user";
  for (; i > 0; i /= 26) name += char('a' + i % 26);
  return name;
}

TEST(RouteFor, APatternMakesOneRouteOfManyNames) {
  const Result<RoutePatterns> patterns = RoutePatterns::Parse({"/users/{name}/profile"});
  ASSERT_TRUE(patterns.ok()) << patterns.error();
  std::set<std::string> heuristic, routed;
  for (int i = 0; i < 2000; ++i) {
    const std::string target = "/users/" + Name(i) + "/profile";
    heuristic.insert(TemplateRoute(target));
    routed.insert(RouteFor(target, patterns.value()));
  }
  EXPECT_EQ(heuristic.size(), 2000u);
  EXPECT_EQ(routed, std::set<std::string>{"/users/{name}/profile"});
}

TEST(RouteFor, MatchesThePathWithoutQueryBeforeTheCaps) {
  const Result<RoutePatterns> patterns =
      RoutePatterns::Parse({"/users/{name}/profile", "/a/b/c/d/e/f/g/h/i/{id}", "/static/*"});
  ASSERT_TRUE(patterns.ok()) << patterns.error();
  const RoutePatterns& p = patterns.value();
  EXPECT_EQ(RouteFor("/users/alice/profile?tab=security#top", p), "/users/{name}/profile");
  EXPECT_EQ(RouteFor("http://example.com/users/bob-smith/profile", p), "/users/{name}/profile");
  EXPECT_EQ(RouteFor("/a/b/c/d/e/f/g/h/i/42", p), "/a/b/c/d/e/f/g/h/i/{id}");  // 10 segments
  EXPECT_EQ(RouteFor("/static/css/" + std::string(200, 'x') + ".css", p), "/static/*");
  // No pattern matches: the heuristic route.
  EXPECT_EQ(RouteFor("/users/alice/orders/42", p), "/users/alice/orders/{id}");
  EXPECT_EQ(RouteFor("/a/b/c/d/e/f/g/h/i/j/k", p), "/a/b/c/d/e/f/g/h");
  EXPECT_EQ(RouteFor("?q=1", p), "/");
}

TEST(RouteFor, TargetsWithoutPathAndNoPatterns) {
  const Result<RoutePatterns> all = RoutePatterns::Parse({"/*"});
  ASSERT_TRUE(all.ok()) << all.error();
  EXPECT_EQ(RouteFor("*", all.value()), "*");
  EXPECT_EQ(RouteFor("example.com:443", all.value()), "*");
  EXPECT_EQ(RouteFor("/anything", all.value()), "/*");
  EXPECT_EQ(RouteFor("/api/users/42?x=1", RoutePatterns()), "/api/users/{id}");
}

}  // namespace
}  // namespace l7tap::protocols
