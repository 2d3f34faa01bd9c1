// What routing looks at first, read from a GuardDuty finding's text without building its document: most
// findings are passed over by every playbook (archived, samples, types and severities no playbook takes),
// and those need not be decoded whole. One pass over the text checks it is JSON as the decoder's parser would
// accept it and notes the handful of fields routing needs; anything unusual (an escaped key, a number that
// does not fit a double, a nesting deeper than the decoder allows, a field of the wrong type) gives no
// summary, and the event is then decoded whole as before, errors and all. The pass throws nothing.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tq::handlers {

struct guardduty_finding;

// The fields of a finding that routing checks first, with the values decode_event gives them.
struct finding_summary {
  std::string source;         // "aws.guardduty"
  std::string detail_type;    // "GuardDuty Finding"
  std::string account;        // the envelope's ("" when absent)
  std::string region;         // the envelope's ("" when absent)
  std::string type;           // detail.type
  double severity = 0;        // detail.severity
  std::string resource_type;  // detail.resource.resourceType
  std::optional<std::string>
      user_type;          // detail.resource.accessKeyDetails.userType, when the finding has one
  bool archived = false;  // detail.service.archived
  bool sample = false;    // as guardduty_finding::sample: additionalInfo or a "[SAMPLE]" title
  bool sequence = false;  // detail.service.detection.sequence is there (an attack sequence)
};

// The summary of `text` when it is a well-formed GuardDuty finding (source aws.guardduty, detail-type
// "GuardDuty Finding") whose routing fields decode_event would read without error; nullopt otherwise, and
// for any text the pass is unsure of (decode_event then says what it is).
std::optional<finding_summary> summarize_finding(std::string_view text);

// The finding as far as the summary knows it (envelope source, detail-type, account, region; type,
// severity, resource type, sample, archived): what an ignored finding's report and metrics are made with.
guardduty_finding outline_of(const finding_summary& summary);

}  // namespace tq::handlers
