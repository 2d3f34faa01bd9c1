#include <gtest/gtest.h>

#include "aws/regions.h"

namespace tq::aws {
namespace {

TEST(looks_like_region, takes_the_names_of_every_partition) {
  for (const char* r :
       {"us-east-1", "eu-west-1", "ap-southeast-5", "me-central-1", "us-gov-west-1", "cn-north-1",
        "cn-northwest-1", "ca-west-1", "il-central-1", "eu-south-2", "us-east-10"}) {
    EXPECT_TRUE(looks_like_region(r)) << r;
  }
}

TEST(looks_like_region, refuses_what_could_make_another_host) {
  for (const char* r : {"",
                        "us-east-1.evil.example",
                        "evil.example",
                        "us-east-1/",
                        "us-east-1:443",
                        "us-east-1 ",
                        "US-EAST-1",
                        "us-east",
                        "us--east-1",
                        "u-east-1",
                        "use-east-1",
                        "us-east-1a",
                        "us-east-",
                        "us-1",
                        "us-east-1\n",
                        "127.0.0.1",
                        "us-east-1#",
                        "us-east-1@evil",
                        "us_east-1",
                        "us-east-one",
                        "us-east-1-",
                        "-us-east-1",
                        "us-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-1"}) {
    EXPECT_FALSE(looks_like_region(r)) << r;
  }
  const std::string nul("us-east-1\0.evil", 15);
  EXPECT_FALSE(looks_like_region(nul));
}

TEST(looks_like_region, refuses_the_isolated_partitions) {
  for (const char* r : {"us-iso-east-1", "us-isob-east-1", "eu-isoe-west-1", "us-isof-south-1"}) {
    EXPECT_FALSE(looks_like_region(r)) << r;
  }
}

TEST(check_region, refuses_a_forged_name_with_a_clear_reason) {
  const status s = check_region("us-east-1.evil.example", "us-east-1", {});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.err().code, invalid_region_code);
  EXPECT_NE(s.err().message.find("'us-east-1.evil.example'"), std::string::npos) << s.err().message;
  EXPECT_NE(s.err().message.find("no AWS region name"), std::string::npos);
  EXPECT_FALSE(s.err().retryable);
}

TEST(check_region, shows_unprintable_names_safely) {
  const status s = check_region("us-east-1\r\nX-Injected: 1", "us-east-1", {});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.err().message.find('\n'), std::string::npos);
}

TEST(check_region, stays_in_the_functions_partition) {
  EXPECT_TRUE(check_region("eu-west-1", "us-east-1", {}).ok());
  EXPECT_TRUE(check_region("cn-northwest-1", "cn-north-1", {}).ok());
  EXPECT_TRUE(check_region("us-gov-east-1", "us-gov-west-1", {}).ok());
  for (auto [region, home] : {std::pair{"cn-north-1", "us-east-1"}, std::pair{"us-gov-west-1", "eu-west-1"},
                              std::pair{"us-east-1", "cn-north-1"}}) {
    const status s = check_region(region, home, {});
    ASSERT_FALSE(s.ok()) << region;
    EXPECT_EQ(s.err().code, other_partition_code);
  }
}

TEST(check_region, an_allowed_list_bounds_where) {
  const std::vector<std::string> allowed{"us-east-1", "eu-west-1"};
  EXPECT_TRUE(check_region("eu-west-1", "us-east-1", allowed).ok());
  const status s = check_region("ap-south-1", "us-east-1", allowed);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.err().code, region_not_allowed_code);
  EXPECT_NE(s.err().message.find("TOURNIQUET_REGIONS (us-east-1,eu-west-1)"), std::string::npos)
      << s.err().message;
}

TEST(regions_from_environment, parses_checks_and_dedupes) {
  auto none = regions_from_environment(fixed_environment({}), "us-east-1");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto listed = regions_from_environment(
      fixed_environment({{"TOURNIQUET_REGIONS", " eu-west-1, us-west-2,,eu-west-1 "}}), "us-east-1");
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(*listed, (std::vector<std::string>{"eu-west-1", "us-west-2"}));
  for (const char* bad : {"eu-west-1,evil.example", "cn-north-1"}) {
    auto r = regions_from_environment(fixed_environment({{"TOURNIQUET_REGIONS", bad}}), "us-east-1");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.err().where, "TOURNIQUET_REGIONS");
  }
}

client_settings home_settings(const env_reader& env) {
  auto s = client_settings_from_environment(env);
  EXPECT_TRUE(s.ok());
  return std::move(*s);
}

TEST(settings_in_region, resolves_every_service_there_and_keeps_iam_global) {
  const env_reader env = fixed_environment({{"AWS_REGION", "us-east-1"}});
  auto eu = settings_in_region(home_settings(env), "eu-west-1", env);
  ASSERT_TRUE(eu.ok());
  EXPECT_EQ(eu->region, "eu-west-1");
  EXPECT_EQ(eu->endpoints.at(service::ec2).url, "https://ec2.eu-west-1.amazonaws.com");
  EXPECT_EQ(eu->endpoints.at(service::ec2).signing_region, "eu-west-1");
  EXPECT_EQ(eu->endpoints.at(service::guardduty).url, "https://guardduty.eu-west-1.amazonaws.com");
  EXPECT_EQ(eu->endpoints.at(service::iam).url, "https://iam.amazonaws.com");
  EXPECT_EQ(eu->endpoints.at(service::iam).signing_region, "us-east-1");
}

TEST(settings_in_region, follows_the_partition_of_the_region) {
  const env_reader env = fixed_environment({{"AWS_REGION", "cn-north-1"}});
  auto cn = settings_in_region(home_settings(env), "cn-northwest-1", env);
  ASSERT_TRUE(cn.ok());
  EXPECT_EQ(cn->endpoints.at(service::ec2).url, "https://ec2.cn-northwest-1.amazonaws.com.cn");
  EXPECT_EQ(cn->endpoints.at(service::iam).signing_region, "cn-north-1");
  const env_reader gov_env = fixed_environment({{"AWS_REGION", "us-gov-west-1"}});
  auto gov = settings_in_region(home_settings(gov_env), "us-gov-east-1", gov_env);
  ASSERT_TRUE(gov.ok());
  EXPECT_EQ(gov->endpoints.at(service::ec2).url, "https://ec2.us-gov-east-1.amazonaws.com");
  EXPECT_EQ(gov->endpoints.at(service::iam).url, "https://iam.us-gov.amazonaws.com");
  EXPECT_EQ(gov->endpoints.at(service::iam).signing_region, "us-gov-west-1");
}

TEST(settings_in_region, overrides_still_win_and_are_signed_for_the_region) {
  const env_reader env = fixed_environment({{"AWS_REGION", "us-east-1"},
                                            {"AWS_ENDPOINT_URL", "http://127.0.0.1:5000"},
                                            {"AWS_ENDPOINT_URL_GUARDDUTY", "http://127.0.0.1:6000/"}});
  auto eu = settings_in_region(home_settings(env), "eu-west-1", env);
  ASSERT_TRUE(eu.ok());
  EXPECT_EQ(eu->endpoints.at(service::ec2).url, "http://127.0.0.1:5000");
  EXPECT_EQ(eu->endpoints.at(service::ec2).signing_region, "eu-west-1");  // moto keeps state by this
  EXPECT_EQ(eu->endpoints.at(service::guardduty).url, "http://127.0.0.1:6000");
  EXPECT_EQ(eu->endpoints.at(service::guardduty).signing_region, "eu-west-1");
  EXPECT_EQ(eu->endpoints.at(service::iam).signing_region, "us-east-1");
}

TEST(regional_clients, gives_the_same_principal_in_each_region_and_keeps_the_settings) {
  const env_reader env = fixed_environment({{"AWS_REGION", "us-east-1"}});
  const client base(nullptr, std::make_shared<client_settings>(home_settings(env)),
                    credentials{"AKIDEXAMPLE", "secret", "", std::nullopt});
  regional_clients regions(env);
  auto home = regions.in_region(base, "");
  ASSERT_TRUE(home.ok());
  EXPECT_EQ(home->settings().region, "us-east-1");
  auto eu = regions.in_region(base, "eu-west-1");
  auto again = regions.in_region(base, "eu-west-1");
  ASSERT_TRUE(eu.ok() && again.ok());
  EXPECT_EQ(eu->settings().region, "eu-west-1");
  EXPECT_EQ(eu->identity().access_key_id, "AKIDEXAMPLE");
  EXPECT_EQ(&eu->settings(), &again->settings()) << "a warm process resolves a region once";
  EXPECT_EQ(base.settings().region, "us-east-1");
}

}  // namespace
}  // namespace tq::aws
