// The record of each interface's prior groups when the instance is short of tags: its format (versioned,
// spilling past 256 characters), where containment writes it within the room each resource has, and where
// release finds it (the interface, the instance's record, the instance's tags of the format before).
#include <gtest/gtest.h>

#include <algorithm>

#include "aws/xml.h"
#include "handlers/playbooks/instance_containment.h"

namespace tq::handlers {
namespace {

const instance_finding finding{"f-1234", "Backdoor:EC2/C&CActivity.B", "123456789012", "i-0abc"};

std::map<std::string, std::string> tags_from(const std::vector<aws::tag>& tags) {
  std::map<std::string, std::string> out;
  for (const auto& t : tags) out[t.key] = t.value;
  return out;
}

// `n` tags of the instance's owner: what an enterprise's tagging policy puts there.
std::map<std::string, std::string> owner_tags(size_t n) {
  std::map<std::string, std::string> tags;
  for (size_t i = 0; i < n; ++i) tags["cost-centre-" + std::to_string(i)] = "x";
  return tags;
}

instance_state fresh_state(size_t owner_tag_count) {
  instance_state s;
  s.instance_id = "i-0abc";
  s.state_name = "running";
  s.tags = owner_tags(owner_tag_count);
  s.interfaces = {{"eni-1", "vpc-a", "subnet-1", {"sg-web", "sg-ssh"}},
                  {"eni-2", "vpc-a", "subnet-2", {"sg-db"}}};
  s.shutdown_behavior = "stop";
  s.termination_protected = true;
  s.untrack_groups["vpc-a"] = {"sg-untrack", "vpc-a", untrack_rules()};
  s.isolation_groups["vpc-a"] = {"sg-iso", "vpc-a", {}};
  return s;
}

size_t level_of(const std::vector<planned_call>& plan, size_t i) {
  size_t deepest = 0;
  for (size_t before : plan[i].after) deepest = std::max(deepest, level_of(plan, before));
  for (size_t need : plan[i].needs) deepest = std::max(deepest, level_of(plan, need));
  return deepest + 1;
}

std::vector<size_t> indices_of(const std::vector<planned_call>& plan, std::string_view kind) {
  std::vector<size_t> out;
  for (size_t i = 0; i < plan.size(); ++i) {
    if (plan[i].kind->name == kind) out.push_back(i);
  }
  return out;
}

TEST(instance_record, reads_back_what_it_wrote) {
  const instance_record record{
      "f-1", "Trojan:EC2/DropPoint!DNS", {{"eni-1", {"sg-a", "sg-b"}}, {"eni-2", {"sg-c"}}}};
  const auto tags = record_tags(record);
  ASSERT_EQ(tags.size(), 1u);
  EXPECT_EQ(tags[0].key, tag_record);
  EXPECT_EQ(tags[0].value, "v1;n=1;f=f-1;t=Trojan:EC2/DropPoint!DNS;i=eni-1:sg-a+sg-b,eni-2:sg-c");
  const read_record back = record_from_tags(tags_from(tags));
  EXPECT_EQ(back.presence, record_presence::complete);
  EXPECT_EQ(back.record, record);
}

TEST(instance_record, spills_past_256_characters_and_knows_when_cut_short) {
  instance_record record{"f-1", "Backdoor:EC2/C&CActivity.B", {}};
  for (int i = 0; i < 8; ++i) {
    record.interfaces.push_back({"eni-0123456789abcdef" + std::to_string(i),
                                 {"sg-0123456789abcdef0", "sg-0123456789abcdef1", "sg-0123456789abcdef2"}});
  }
  const auto tags = record_tags(record);
  ASSERT_GT(tags.size(), 1u);
  EXPECT_EQ(tags[1].key, std::string(tag_record) + ":2");
  for (const auto& t : tags) EXPECT_LE(t.value.size(), ec2_tag_value_limit);
  EXPECT_TRUE(tags[0].value.starts_with("v1;n=" + std::to_string(tags.size()) + ";"));
  auto all = tags_from(tags);
  EXPECT_EQ(record_from_tags(all).record, record);
  all.erase(tags.back().key);  // the tag limit stopped the last piece
  EXPECT_EQ(record_from_tags(all).presence, record_presence::partial);
  EXPECT_TRUE(record_from_tags(all).record.interfaces.empty()) << "a record cut short is never acted on";
}

TEST(instance_record, an_unknown_version_or_shape_is_not_read) {
  EXPECT_EQ(record_from_tags({}).presence, record_presence::absent);
  EXPECT_EQ(record_from_tags({{tag_record, "v2;n=1;i=eni-1:sg-a"}}).presence, record_presence::unknown);
  EXPECT_EQ(record_from_tags({{tag_record, "v1;n=1;i=eni-1"}}).presence, record_presence::unknown);
  EXPECT_EQ(record_from_tags({{tag_record, "v1;n=x;i=eni-1:sg-a"}}).presence, record_presence::unknown);
}

TEST(instance_record, room_counts_user_tags_only_and_fills_in_order) {
  auto tags = owner_tags(48);
  tags["aws:autoscaling:groupName"] = "web";  // AWS's own tags do not count against the limit
  EXPECT_EQ(tag_room(tags), 2u);
  const std::vector<aws::tag> wanted{{"a", "1"}, {"cost-centre-0", "y"}, {"b", "2"}, {"c", "3"}};
  const auto fits = fitting(tags, wanted);
  ASSERT_EQ(fits.size(), 3u) << "a key already there takes no room";
  EXPECT_EQ(fits[2].key, "b");
  EXPECT_EQ(tag_room(owner_tags(50)), 0u);
}

TEST(record_plan, with_48_tags_the_record_fits_but_the_status_does_not_and_isolation_keeps_its_round_trips) {
  const instance_state s = fresh_state(48);
  std::vector<action_record> already;
  const containment_plan planned = plan_instance_containment(finding, s, instance_settings{}, already);
  EXPECT_FALSE(planned.record.lacks_room);
  ASSERT_EQ(planned.record.instance_tags.size(), 2u);
  EXPECT_EQ(planned.record.instance_tags[0].key, tag_incident);
  EXPECT_EQ(planned.record.instance_tags[1].key, tag_record);
  EXPECT_EQ(indices_of(planned.calls, "record-on-interface").size(), 2u);
  for (size_t i : indices_of(planned.calls, "isolate-interface")) EXPECT_EQ(level_of(planned.calls, i), 2u);
  for (size_t i : planned.record.calls) EXPECT_EQ(level_of(planned.calls, i), 1u) << "beside the untrack";

  instance_state after = s;
  for (const auto& t : planned.record.instance_tags) after.tags[t.key] = t.value;
  EXPECT_EQ(instance_extent(after.tags), record_extent::full);
  std::vector<action_record> status_already;
  const tag_writes status = plan_status(after, true, "2026-12-01T00:00:00Z", status_already);
  EXPECT_TRUE(status.calls.empty());
  EXPECT_TRUE(status.lacks_room) << "the report escalates";
}

TEST(record_plan, with_50_tags_the_record_goes_on_the_interfaces_only) {
  const instance_state s = fresh_state(50);
  std::vector<action_record> already;
  const containment_plan planned = plan_instance_containment(finding, s, instance_settings{}, already);
  EXPECT_TRUE(planned.record.lacks_room);
  EXPECT_TRUE(indices_of(planned.calls, "record-prior-state").empty()) << "a write bound to fail is not sent";
  EXPECT_EQ(indices_of(planned.calls, "record-on-interface").size(), 2u);
  EXPECT_EQ(indices_of(planned.calls, "isolate-interface").size(), 2u) << "isolation never waits for room";
  const bool said = std::any_of(already.begin(), already.end(), [](const action_record& r) {
    return r.action == "record-prior-state" && r.result == outcome::skipped && !r.unfinished;
  });
  EXPECT_TRUE(said);
  EXPECT_EQ(instance_extent(s.tags), record_extent::none);
}

TEST(record_plan, an_interface_without_room_is_left_to_the_instance_record) {
  instance_state s = fresh_state(0);
  s.interfaces[0].tags = owner_tags(50);
  s.interfaces[1].tags = owner_tags(49);
  std::vector<action_record> already;
  const containment_plan planned = plan_instance_containment(finding, s, instance_settings{}, already);
  const auto on_interfaces = indices_of(planned.calls, "record-on-interface");
  ASSERT_EQ(on_interfaces.size(), 1u);
  const auto& call = planned.calls[on_interfaces[0]];
  EXPECT_EQ(call.target, "eni-2");
  EXPECT_EQ(call.query().params.get("Tag.1.Key"), tag_prior_groups) << "the groups before the incident id";
  EXPECT_TRUE(call.query().params.get("Tag.2.Key").empty());
  EXPECT_FALSE(planned.record.lacks_room) << "the instance holds the whole record";
}

// The state a containment with 50 tags on the instance leaves: the record on the interfaces alone.
instance_state contained_on_interfaces() {
  instance_state s = fresh_state(50);
  s.interfaces[0].tags = {{tag_prior_groups, "sg-web,sg-ssh"}, {tag_incident, "tq-1"}};
  s.interfaces[1].tags = {{tag_prior_groups, "sg-db"}, {tag_incident, "tq-1"}};
  for (auto& eni : s.interfaces) eni.group_ids = {"sg-iso"};
  s.recorded_group_vpcs = {{"sg-web", "vpc-a"}, {"sg-ssh", "vpc-a"}, {"sg-db", "vpc-a"}};
  return s;
}

TEST(record_plan, a_replay_on_interface_records_writes_nothing_more) {
  std::vector<action_record> already;
  const containment_plan planned =
      plan_instance_containment(finding, contained_on_interfaces(), instance_settings{}, already);
  EXPECT_TRUE(indices_of(planned.calls, "record-on-interface").empty());
  EXPECT_EQ(planned.record.interfaces, (std::vector<std::string>{"eni-1", "eni-2"}));
}

TEST(release_from_record, reads_the_interface_then_the_instance_record_then_the_old_tags) {
  instance_state s = contained_on_interfaces();
  s.tags = {{tag_record, "v1;n=1;f=f-1;t=T;i=eni-1:sg-other,eni-2:sg-db"},
            {std::string(tag_prior_groups_prefix) + "eni-2", "sg-old"}};
  s.interfaces[1].tags.clear();
  EXPECT_EQ(recorded_for(s, s.interfaces[0])->source, record_source::interface);
  EXPECT_EQ(recorded_for(s, s.interfaces[0])->groups, (std::vector<std::string>{"sg-web", "sg-ssh"}));
  EXPECT_EQ(recorded_for(s, s.interfaces[1])->source, record_source::instance_record);
  s.tags.erase(tag_record);
  EXPECT_EQ(recorded_for(s, s.interfaces[1])->source, record_source::instance_tags);
  EXPECT_EQ(source_name(record_source::instance_tags), "instance-tags");
}

TEST(release_from_record, restores_from_the_interfaces_and_marks_them_released_when_the_instance_is_full) {
  std::vector<action_record> already;
  const auto plan = plan_release(contained_on_interfaces(), "2026-12-01T00:00:00Z", "", already);
  const auto restores = indices_of(plan, "restore-interface");
  ASSERT_EQ(restores.size(), 2u);
  EXPECT_EQ(plan[restores[0]].query().params.get("SecurityGroupId.2"), "sg-ssh");
  const auto status = indices_of(plan, "record-status");
  ASSERT_EQ(status.size(), 1u);
  EXPECT_EQ(plan[status[0]].query().params.get("ResourceId.1"), "eni-1");
  EXPECT_EQ(plan[status[0]].query().params.get("ResourceId.2"), "eni-2");
  EXPECT_EQ(plan[status[0]].query().params.get("Tag.1.Value"), "released");
}

}  // namespace
}  // namespace tq::handlers

namespace tq::handlers {
namespace {

aws::xml_response answer(const std::string& body) {
  auto parsed = aws::parse_response(aws::http_response{200, {}, body}, "test");
  EXPECT_TRUE(parsed.ok()) << parsed.err().describe();
  return std::move(parsed).value();
}

const char* const instances_answer =
    "<DescribeInstancesResponse><reservationSet><item><instancesSet><item><instanceId>i-0abc</instanceId>"
    "<instanceState><name>running</name></instanceState><networkInterfaceSet><item>"
    "<networkInterfaceId>eni-1</networkInterfaceId><vpcId>vpc-a</vpcId><groupSet><item><groupId>sg-web</"
    "groupId>"
    "</item></groupSet></item></networkInterfaceSet></item></instancesSet></item></reservationSet>"
    "</DescribeInstancesResponse>";
const char* const groups_answer =
    "<DescribeSecurityGroupsResponse><securityGroupInfo/></DescribeSecurityGroupsResponse>";
const char* const interfaces_answer =
    "<DescribeNetworkInterfacesResponse><networkInterfaceSet><item><networkInterfaceId>eni-1</"
    "networkInterfaceId>"
    "<tagSet><item><key>tourniquet:prior-groups</key><value>sg-web</value></item></tagSet></item>"
    "</networkInterfaceSet></DescribeNetworkInterfacesResponse>";

// The reads answered by action name; the others failed.
execution answered(const std::vector<planned_call>& reads) {
  const std::map<std::string, std::string> bodies{{"DescribeInstances", instances_answer},
                                                  {"DescribeSecurityGroups", groups_answer},
                                                  {"DescribeNetworkInterfaces", interfaces_answer}};
  execution run;
  run.records.resize(reads.size());
  run.answers.resize(reads.size());
  for (size_t i = 0; i < reads.size(); ++i) {
    run.records[i].action = std::string(reads[i].kind->name);
    auto body = bodies.find(reads[i].query().action);
    if (body == bodies.end()) {
      run.records[i].result = outcome::failed;
      run.records[i].failure = error{"Throttling", "test", "test", true};
      continue;
    }
    run.records[i].result = outcome::done;
    run.answers[i] = aws::api_answer{answer(body->second)};
  }
  return run;
}

TEST(record_reads, the_interfaces_tags_are_found_by_their_read_wherever_it_sits) {
  auto reads = plan_state_reads(finding, instance_settings{});
  EXPECT_EQ(reads.back().query().action, "DescribeNetworkInterfaces")
      << "appended: the batch keeps its order";
  auto state = state_from_reads(finding, instance_settings{}, answered(reads));
  ASSERT_TRUE(state.ok()) << state.err().describe();
  EXPECT_TRUE(state->interface_tags_read);
  EXPECT_EQ(state->interfaces.at(0).tags.at(tag_prior_groups), "sg-web");

  // A read added to the batch before it moves it, and what is read from it stays.
  reads.insert(reads.end() - 1, reads.front());
  state = state_from_reads(finding, instance_settings{}, answered(reads));
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->interfaces.at(0).tags.at(tag_prior_groups), "sg-web");

  reads.erase(reads.end() - 2);
  execution failed = answered(reads);
  failed.answers.back().reset();
  failed.records.back().result = outcome::failed;
  state = state_from_reads(finding, instance_settings{}, failed);
  ASSERT_TRUE(state.ok()) << "containment goes on without them";
  EXPECT_FALSE(state->interface_tags_read);
}

}  // namespace
}  // namespace tq::handlers
