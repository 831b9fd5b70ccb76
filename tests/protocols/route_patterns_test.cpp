#include "protocols/route_patterns.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace l7tap::protocols {
namespace {

RoutePatterns Parsed(const std::vector<std::string>& patterns) {
  Result<RoutePatterns> parsed = RoutePatterns::Parse(patterns);
  EXPECT_TRUE(parsed.ok()) << parsed.error();
  return parsed.ok() ? std::move(*parsed) : RoutePatterns();
}

std::string ParseError(const std::string& pattern) {
  Result<RoutePatterns> parsed = RoutePatterns::Parse({pattern});
  return parsed.ok() ? "(parsed)" : parsed.error();
}

TEST(RoutePatterns, ParsesValidPatterns) {
  const RoutePatterns patterns = Parsed({"/", "/users/{name}/orders", "/api/v1/items/{id}", "/static/*", "/*",
                                         "/users/", "/a/{x_y-z.1}/b", "/caf%C3%A9/{id}"});
  EXPECT_EQ(patterns.size(), 8u);
  EXPECT_TRUE(RoutePatterns().empty());
  EXPECT_TRUE(Parsed({}).empty());
}

TEST(RoutePatterns, RejectsBadPatternsNamingThemAndTheFix) {
  EXPECT_EQ(ParseError(""), "route pattern is empty: give a path such as /users/{name}");
  EXPECT_EQ(ParseError("users/{name}"),
            "route pattern \"users/{name}\" must start with '/', as in \"/users/{name}\"");
  EXPECT_EQ(ParseError("/users/{name/orders"),
            "route pattern \"/users/{name/orders\" has unbalanced braces in \"{name\": write a parameter as "
            "{name}");
  EXPECT_EQ(ParseError("/users/name}"),
            "route pattern \"/users/name}\" has unbalanced braces in \"name}\": write a parameter as {name}");
  EXPECT_EQ(
      ParseError("/users/}name{"),
      "route pattern \"/users/}name{\" has unbalanced braces in \"}name{\": write a parameter as {name}");
  EXPECT_EQ(
      ParseError("/img/{name}.png"),
      "route pattern \"/img/{name}.png\" has a parameter that is not a whole segment, \"{name}.png\": a "
      "{name} matches a whole segment, text around it is not matched");
  EXPECT_EQ(ParseError("/users/{}"),
            "route pattern \"/users/{}\" has an empty {}: name the parameter, as in {id}");
  EXPECT_EQ(
      ParseError("/users/{a:b}"),
      "route pattern \"/users/{a:b}\" has parameter \"{a:b}\": a name may use letters, digits, '_', '-' and "
      "'.' only");
  EXPECT_EQ(
      ParseError("/static/*/css"),
      "route pattern \"/static/*/css\" has '*' before the end: '*' must be the whole last segment, as in "
      "/static/*");
  EXPECT_EQ(
      ParseError("/static/*.js"),
      "route pattern \"/static/*.js\" has '*' inside segment \"*.js\": '*' must be a whole last segment, as "
      "in /static/*");
  EXPECT_EQ(ParseError("/a//b"),
            "route pattern \"/a//b\" has an empty segment (\"//\"): remove the extra '/'");
  EXPECT_EQ(ParseError("/search?q={q}"),
            "route pattern \"/search?q={q}\" has a query or fragment: patterns match the path only, drop "
            "everything from '?'");
  EXPECT_EQ(
      ParseError("/docs#intro"),
      "route pattern \"/docs#intro\" has a query or fragment: patterns match the path only, drop everything "
      "from '#'");
  EXPECT_EQ(
      ParseError("/a b"),
      "route pattern \"/a b\" has a space or control character: write it percent-encoded, as a request does");
  EXPECT_EQ(ParseError("/" + std::string(128, 'x')),
            "route pattern \"/" + std::string(47, 'x') +
                "...\" is 129 chars long, at most 128 (a route label's limit): shorten it, or end it early "
                "with /*");
  EXPECT_EQ(ParseError("/" + std::string(127, 'x')), "(parsed)");
}

TEST(RoutePatterns, RejectsTooManyPatterns) {
  std::vector<std::string> patterns;
  for (int i = 0; i < 256; ++i) patterns.push_back("/p" + std::to_string(i));
  EXPECT_TRUE(RoutePatterns::Parse(patterns).ok());
  patterns.push_back("/one-more");
  Result<RoutePatterns> parsed = RoutePatterns::Parse(patterns);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(
      parsed.error(),
      "too many route patterns (257, at most 256): merge similar ones with {name} segments or a trailing /*");

  RoutePatterns added = Parsed({});
  for (int i = 0; i < 256; ++i) ASSERT_TRUE(added.Add("/p" + std::to_string(i)).ok());
  Result<Ok> one_more = added.Add("/one-more");
  ASSERT_FALSE(one_more.ok());
  EXPECT_EQ(
      one_more.error(),
      "too many route patterns (more than 256): merge similar ones with {name} segments or a trailing /*");
}

TEST(RoutePatterns, AFailedAddLeavesThePatternsAsTheyWere) {
  RoutePatterns patterns = Parsed({"/a/{x}"});
  EXPECT_FALSE(patterns.Add("/b/{y}/c/{").ok());
  EXPECT_EQ(patterns.size(), 1u);
  EXPECT_EQ(patterns.Match("/b/1/c/2"), "");
  EXPECT_EQ(patterns.Match("/a/1"), "/a/{x}");
}

TEST(RoutePatterns, ParametersMatchOneNonEmptySegment) {
  const RoutePatterns patterns = Parsed({"/users/{name}/orders", "/users/{name}"});
  EXPECT_EQ(patterns.Match("/users/alice/orders"), "/users/{name}/orders");
  EXPECT_EQ(patterns.Match("/users/bob-smith"), "/users/{name}");
  EXPECT_EQ(patterns.Match("/users/j.doe"), "/users/{name}");
  EXPECT_EQ(patterns.Match("/users//orders"), "");
  EXPECT_EQ(patterns.Match("/users/"), "");
  EXPECT_EQ(patterns.Match("/users"), "");
  EXPECT_EQ(patterns.Match("/users/alice/orders/7"), "");
  EXPECT_EQ(patterns.Match("/users/alice/orders/"), "");
  EXPECT_EQ(patterns.Match("/Users/alice"), "");  // literals are case-sensitive
  EXPECT_EQ(patterns.Match("/user/alice"), "");
  EXPECT_EQ(patterns.Match("/usersx/alice"), "");
}

TEST(RoutePatterns, TrailingStarMatchesAnyRest) {
  const RoutePatterns patterns = Parsed({"/static/*", "/api/{version}/*"});
  EXPECT_EQ(patterns.Match("/static"), "/static/*");
  EXPECT_EQ(patterns.Match("/static/"), "/static/*");
  EXPECT_EQ(patterns.Match("/static/css/site.css"), "/static/*");
  EXPECT_EQ(patterns.Match("/staticx/a"), "");
  EXPECT_EQ(patterns.Match("/api/v1"), "/api/{version}/*");
  EXPECT_EQ(patterns.Match("/api/v1/a/b/c/d/e/f/g/h/i/j"), "/api/{version}/*");
  EXPECT_EQ(patterns.Match("/api"), "");
  EXPECT_EQ(Parsed({"/*"}).Match("/anything/at/all"), "/*");
  EXPECT_EQ(Parsed({"/*"}).Match("/"), "/*");
}

TEST(RoutePatterns, RootAndTrailingSlash) {
  const RoutePatterns patterns = Parsed({"/", "/users/"});
  EXPECT_EQ(patterns.Match("/"), "/");
  EXPECT_EQ(patterns.Match("/users/"), "/users/");
  EXPECT_EQ(patterns.Match("/users"), "");
  EXPECT_EQ(patterns.Match("/a"), "");
}

TEST(RoutePatterns, FirstMatchInGivenOrderWins) {
  EXPECT_EQ(Parsed({"/users/{name}", "/users/me"}).Match("/users/me"), "/users/{name}");
  EXPECT_EQ(Parsed({"/users/me", "/users/{name}"}).Match("/users/me"), "/users/me");
  EXPECT_EQ(Parsed({"/users/*", "/users/{name}"}).Match("/users/alice"), "/users/*");
}

TEST(RoutePatterns, NotAPath) {
  const RoutePatterns patterns = Parsed({"/*"});
  EXPECT_EQ(patterns.Match(""), "");
  EXPECT_EQ(patterns.Match("*"), "");
  EXPECT_EQ(RoutePatterns().Match("/a"), "");
}

TEST(RoutePatterns, PathsWithManySegments) {
  std::string most;  // 64 segments in 128 chars: the most a pattern can have
  for (int i = 0; i < 64; ++i) most += "/x";
  const RoutePatterns patterns = Parsed({most, "/x/x/*"});
  EXPECT_EQ(patterns.Match(most), most);
  EXPECT_EQ(patterns.Match(most + "/"), "/x/x/*");  // 65 segments
  EXPECT_EQ(patterns.Match(most + "/x"), "/x/x/*");
  std::string very_long;
  for (int i = 0; i < 1000; ++i) very_long += "/x";
  EXPECT_EQ(patterns.Match(very_long), "/x/x/*");
  EXPECT_EQ(Parsed({most}).Match(very_long), "");
  EXPECT_EQ(Parsed({most}).Match(most + "/"), "");
}

}  // namespace
}  // namespace l7tap::protocols
