#include "protocols/route_segment.h"

#include <gtest/gtest.h>

#include <string>

namespace l7tap::protocols {
namespace {

std::string Templated(std::string_view segment) {
  std::string route;
  AppendTemplatedSegment(segment, route);
  return route;
}

TEST(RouteSegment, KeepsWordsAndNames) {
  for (const char* word : {"v2",
                           "api",
                           "oauth2",
                           "html5",
                           "x86_64",
                           "utf-8",
                           "index.html",
                           "favicon.ico",
                           "robots.txt",
                           "healthz",
                           "metrics",
                           "v1beta1",
                           "v2alpha1",
                           "ipv6",
                           "k8s",
                           "i18n",
                           "e2e",
                           "1080p",
                           "sha256",
                           "base64",
                           "amd64",
                           "arm64v8",
                           "iso-8859-1",
                           "python-3.12.1",
                           "jquery-3.7.1.min.js",
                           "go1.21.0",
                           "report-2024",
                           "alice",
                           "bob-smith",
                           "j.doe",
                           "O'Brien",
                           "ListObjectsV2",
                           "cafe",
                           "deadbeef-cafe",
                           "me",
                           "@alice",
                           "user@localhost",
                           "10.0.0",
                           "16:9",
                           "1.0",
                           "~",
                           "..",
                           "-"}) {
    EXPECT_EQ(Templated(word), word);
  }
  EXPECT_EQ(Templated(""), "");
}

TEST(RouteSegment, Numbers) {
  EXPECT_EQ(Templated("0"), "{id}");
  EXPECT_EQ(Templated("1706702400"), "{id}");  // Unix time
  EXPECT_EQ(Templated("20240131"), "{id}");    // digits only: as likely an id as a date
}

TEST(RouteSegment, HashesAndUuids) {
  EXPECT_EQ(Templated("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), "{id}");
  EXPECT_EQ(Templated("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), "{id}");
  EXPECT_EQ(Templated("sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709"), "{id}");
  EXPECT_EQ(Templated("sha256%3Ae3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), "{id}");
  EXPECT_EQ(Templated("sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="),
            "{id}");                                         // subresource integrity
  EXPECT_EQ(Templated("507f1f77bcf86cd799439011"), "{id}");  // MongoDB ObjectId
  EXPECT_EQ(Templated("6ba7b810-9dad-11d1-80b4-00c04fd430c8"), "{id}");
  EXPECT_EQ(Templated("6BA7B810-9DAD-11D1-80B4-00C04FD430C8"), "{id}");
}

TEST(RouteSegment, Emails) {
  EXPECT_EQ(Templated("alice@example.com"), "{email}");
  EXPECT_EQ(Templated("j.doe+news@mail.example.co.uk"), "{email}");
  EXPECT_EQ(Templated("alice%40example.com"), "{email}");
  EXPECT_EQ(Templated("Bob.Smith%40Example.ORG"), "{email}");
  EXPECT_EQ(Templated("alice@example.c"), "alice@example.c");  // a TLD has 2 letters or more
  EXPECT_EQ(Templated("alice@-example.com"), "alice@-example.com");
  EXPECT_EQ(Templated("@example.com"), "@example.com");
  EXPECT_EQ(Templated("a@b@example.com"), "a@b@example.com");
}

TEST(RouteSegment, DatesAndTimes) {
  EXPECT_EQ(Templated("2024-01-31"), "{date}");
  EXPECT_EQ(Templated("2024-01"), "{date}");
  EXPECT_EQ(Templated("2024-01-31T12:00:00Z"), "{date}");
  EXPECT_EQ(Templated("2024-01-31T12:00:00.123456+02:00"), "{date}");
  EXPECT_EQ(Templated("2024-01-31t12:00-0500"), "{date}");
  EXPECT_EQ(Templated("2024-01-31%2012%3A00%3A00"), "{date}");
  EXPECT_EQ(Templated("2024-01-31_12:00:00"), "{date}");
  EXPECT_EQ(Templated("20240131T120000Z"), "{date}");
  EXPECT_EQ(Templated("20240131T1200"), "{date}");
  EXPECT_EQ(Templated("12:30:00"), "{time}");
  EXPECT_EQ(Templated("12:30"), "{time}");
  EXPECT_EQ(Templated("23:59:60.5Z"), "{time}");
  EXPECT_EQ(Templated("2024-13-01"), "2024-13-01");  // no month 13
  EXPECT_EQ(Templated("2024-01-32"), "2024-01-32");
  EXPECT_EQ(Templated("24:00"), "24:00");
  EXPECT_EQ(Templated("2024-01-31T25:00"), "2024-01-31T25:00");
  EXPECT_EQ(Templated("2024-01-31.log"), "{date}.log");
}

TEST(RouteSegment, Jwts) {
  constexpr std::string_view kJwt =
      "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0."
      "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
  EXPECT_EQ(Templated(kJwt), "{id}");
  EXPECT_EQ(Templated("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9."), "{id}");  // "alg":"none": no signature
  EXPECT_EQ(Templated("eyes.on.me"), "eyes.on.me");
}

TEST(RouteSegment, Base64AndMixedTokens) {
  EXPECT_EQ(Templated("dXNlcjE="), "{id}");
  EXPECT_EQ(Templated("YWxpY2U6c2VjcmV0"), "{id}");
  EXPECT_EQ(Templated("YWxpY2U6c2VjcmV0MTIzNA%3D%3D"), "{id}");
  EXPECT_EQ(Templated("cus_NffrFeUfNV2Hib"), "{id}");           // Stripe
  EXPECT_EQ(Templated("pi_3MtwBwLkdIwHu7ix28a3tqPa"), "{id}");  // Stripe
  EXPECT_EQ(Templated("V1StGXR8_Z5jdHi6B-myT"), "{id}");        // nanoid
  EXPECT_EQ(Templated("01ARZ3NDEKTSV4RRFFQ69G5FAV"), "{id}");   // ULID
  EXPECT_EQ(Templated("dQw4w9WgXcQ"), "{id}");                  // YouTube video id
  EXPECT_EQ(Templated("C024BE91L"), "{id}");                    // Slack channel
  EXPECT_EQ(Templated("ORD12345"), "{id}");                     // digits outnumber letters
  EXPECT_EQ(Templated("post-12345"), "{id}");                   // 5 digits
  EXPECT_EQ(Templated("i-0123456789abcdef0"), "{id}");          // EC2 instance
  EXPECT_EQ(Templated("sg-903004f8"), "{id}");                  // 8 hex digits
  EXPECT_EQ(Templated("vpc-1a2b3c4d"), "{id}");                 // 7 letter/digit changes
  EXPECT_EQ(Templated("web-7fb96c846b-8xkzq"), "{id}");         // Kubernetes pod
  EXPECT_EQ(Templated("a1b2c"), "{id}");                        // 4 changes
  EXPECT_EQ(Templated("1920x1080"), "{id}");                    // dimensions: user-chosen, ids too
  EXPECT_EQ(Templated("token=k3j4h5g6f7d8s9a0"), "{id}");       // >= 16 letters and digits
  EXPECT_EQ(Templated("GetUserProfile"), "GetUserProfile");     // no digits
  EXPECT_EQ(Templated("ListObjectsV2Request"), "{id}");         // >= 16 with a digit: sadly an id too
  EXPECT_EQ(Templated("2024_United_States_election"), "2024_United_States_election");  // long words
}

TEST(RouteSegment, FileNamesKeepTheirExtension) {
  EXPECT_EQ(Templated("9f86d081884c7d65.png"), "{id}.png");
  EXPECT_EQ(Templated("main.8f3a2b1c.js"), "{id}.js");  // bundler content hash
  EXPECT_EQ(Templated("9f86d081884c7d65.tar.gz"), "{id}.tar.gz");
  EXPECT_EQ(Templated("42.json"), "{id}.json");
  EXPECT_EQ(Templated("IMG_20240131_123456.JPG"), "{id}.JPG");
  EXPECT_EQ(Templated("6ba7b810-9dad-11d1-80b4-00c04fd430c8.pdf"), "{id}.pdf");
  EXPECT_EQ(Templated("deadbeefcafe.png"), "{id}.png");  // hex without a digit
  EXPECT_EQ(Templated("abcdefab-abcd-abcd-abcd-abcdefabcdef.pdf"), "{id}.pdf");
  EXPECT_EQ(Templated("report.pdf"), "report.pdf");
  EXPECT_EQ(Templated("9f86d081884c7d65.verylongext"), "{id}");  // not an extension: all of it is an id
  EXPECT_EQ(Templated(".9f86d081884c7d65"), "{id}");
}

TEST(RouteSegment, Ipv4) {
  EXPECT_EQ(Templated("10.0.0.1"), "{id}");
  EXPECT_EQ(Templated("192.168.100.255"), "{id}");
  EXPECT_EQ(Templated("192.168.100.256"), "192.168.100.256");
  EXPECT_EQ(Templated("1.2.3.4.5"), "1.2.3.4.5");
}

TEST(RouteSegment, KeptSegmentsStayEncoded) {
  EXPECT_EQ(Templated("caf%C3%A9"), "caf%C3%A9");
  EXPECT_EQ(Templated("a%20b"), "a%20b");
  EXPECT_EQ(Templated("100%"), "100%");
  EXPECT_EQ(Templated("%zz"), "%zz");
}

}  // namespace
}  // namespace l7tap::protocols
