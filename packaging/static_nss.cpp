// Linked only into the static Lambda executable (TOURNIQUET_STATIC, see packaging/build-zip.sh).
// A static glibc resolves names with its built-in `files` and `dns` services alone: any other service that
// /etc/nsswitch.conf names would be dlopen'ed from the host's own glibc, which aborts a static process.
#include <nss.h>

namespace {

// Runs before main and before libcurl's resolver thread exists. Once set, glibc no longer reads
// /etc/nsswitch.conf, so the host's configuration cannot name a module we would have to load.
[[gnu::constructor]] void pin_lookups_to_builtin_services() {
  __nss_configure_lookup("hosts", "files dns");
  __nss_configure_lookup("services", "files");
}

}  // namespace
