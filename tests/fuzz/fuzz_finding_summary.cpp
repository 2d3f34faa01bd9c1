// libFuzzer dictionary: json.dict
// The summary routing reads before decoding, against the decoder, on arbitrary bytes: a summary is given only
// for text nlohmann's parser accepts; its fields are those decode_event gives (or decode_event refuses a
// field the summary does not read); and a finding passed over from its summary is passed over by
// route_event, for the same reasons.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "handlers/finding_summary.h"
#include "handlers/playbook.h"

namespace {

using namespace tq::handlers;

const playbook_list& playbooks() {
  static const playbook_list list = [] {
    auto made = make_playbooks(tq::fixed_environment({}));
    if (!made) __builtin_trap();
    return std::move(*made);
  }();
  return list;
}

void check(bool holds) {
  if (!holds) __builtin_trap();
}

void check_fields(const finding_summary& s, const guardduty_finding& f) {
  check(s.source == f.envelope.source && s.detail_type == f.envelope.detail_type);
  check(s.account == f.envelope.account && s.region == f.envelope.region);
  check(s.type == f.type && s.resource_type == f.resource_type);
  check(s.severity == f.severity && std::signbit(s.severity) == std::signbit(f.severity));
  check(s.archived == f.archived && s.sample == f.sample);
  if (f.access_key) check(s.user_type == f.access_key->user_type);
}

void check_routing(const finding_summary& s, const decoded_event& event) {
  const auto fast = route_summary(playbooks(), s, config{});
  if (!fast) return;
  const routing full = route_event(playbooks(), event, config{});
  check(full.jobs.empty() && full.passed.size() == fast->passed.size());
  for (std::size_t i = 0; i < full.passed.size(); ++i) {
    check(full.passed[i].playbook == fast->passed[i].playbook &&
          full.passed[i].reason == fast->passed[i].reason);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto summary = summarize_finding(text);
  if (!summary) return 0;
  check(!nlohmann::json::parse(text, nullptr, false).is_discarded());
  const auto decoded = decode_event(text);
  if (!decoded) {
    const std::string& where = decoded.err().where;
    for (std::string_view read : {"$.source",
                                  "$.detail-type",
                                  "$.account",
                                  "$.region",
                                  "$.detail",
                                  "$.detail.id",
                                  "$.detail.accountId",
                                  "$.detail.region",
                                  "$.detail.type",
                                  "$.detail.severity",
                                  "$.detail.title",
                                  "$.detail.resource",
                                  "$.detail.resource.resourceType",
                                  "$.detail.resource.accessKeyDetails",
                                  "$.detail.resource.accessKeyDetails.userType",
                                  "$.detail.service",
                                  "$.detail.service.archived",
                                  "$.detail.service.additionalInfo",
                                  "$.detail.service.additionalInfo.sample",
                                  "$"}) {
      check(where != read);
    }
    return 0;
  }
  const auto* finding = std::get_if<guardduty_finding>(&*decoded);
  check(finding != nullptr);
  check_fields(*summary, *finding);
  check_routing(*summary, *decoded);
  return 0;
}
