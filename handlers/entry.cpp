#include "handlers/entry.h"

#include <memory>

#include "aws/client.h"
#include "handlers/event.h"
#include "handlers/playbook.h"
#include "handlers/playbooks/instance_containment.h"
#include "handlers/responder.h"
#include "runtime/log.h"

namespace tq::handlers {

result<handler_function> make_handler(const handler_options& options) {
  auto made = responder::from_environment(process_environment(), options);
  if (!made) return std::move(made).err();
  std::shared_ptr<responder> r = std::move(*made);
  return handler_function(
      [r](std::string_view event, const invocation_context& context) { return r->handle(event, context); });
}

}  // namespace tq::handlers
