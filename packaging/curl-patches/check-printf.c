/* Checks the static libcurl's printf against glibc's for the plain formats that
   printf-with-plain-formats-in-one-pass.patch writes in its own pass (literal text, %s, %d, %u, %ld,
   %lu, %%), and for one the engine keeps: the same text, in buffers of every size up to the whole (what
   fits, cut where glibc cuts), and from aprintf. A NULL %s is curl's "(nil)", where glibc writes
   "(null)". packaging/build-zip.sh runs it once, after building libcurl; it prints what differs and
   exits 1. */
#include <curl/mprintf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static void expect_same(const char *what, const char *got, const char *want) {
  if (strcmp(got, want) != 0) {
    fprintf(stderr, "check-printf: %s: curl wrote \"%s\", glibc \"%s\"\n", what, got, want);
    failures++;
  }
}

/* Every buffer size from 0 to one past the whole text: curl writes what fits, ends it with a NUL and
   returns the length of what it kept (glibc returns the length of the whole). */
#define CHECK(fmt, ...)                                                                               \
  do {                                                                                                \
    char want[256], got[256];                                                                         \
    const int whole = snprintf(want, sizeof want, fmt, __VA_ARGS__);                                  \
    for (int size = 0; size <= whole + 1; size++) {                                                   \
      memset(got, 'Z', sizeof got);                                                                   \
      const int kept = curl_msnprintf(got, (size_t)size, fmt, __VA_ARGS__);                           \
      const int want_kept = size == 0 ? 0 : (whole < size ? whole : size - 1);                        \
      char cut[256];                                                                                  \
      snprintf(cut, sizeof cut, "%.*s", want_kept, want);                                             \
      if (kept != want_kept || (size > 0 && strcmp(got, cut) != 0) || (size == 0 && got[0] != 'Z')) { \
        fprintf(stderr, "check-printf: \"%s\" in %d bytes: curl kept %d \"%.*s\", glibc %d \"%s\"\n", \
                fmt, size, kept, size > 0 ? size : 0, got, want_kept, cut);                           \
        failures++;                                                                                   \
      }                                                                                               \
    }                                                                                                 \
    char *allocated = curl_maprintf(fmt, __VA_ARGS__);                                                \
    expect_same(fmt, allocated ? allocated : "(out of memory)", want);                                \
    curl_free(allocated);                                                                             \
  } while (0)

int main(void) {
  static const char *const texts[] = {"", "a", "ec2.eu-west-1.amazonaws.com", "x%sy"};
  static const long longs[] = {0, 1, -1, 10, 65535, -123456789L, LONG_MAX, LONG_MIN};
  static const int ints[] = {0, 7, -7, 443, INT_MAX, INT_MIN};
  static const unsigned unsigneds[] = {0, 80, 4294967295u};
  static const unsigned long unsigned_longs[] = {0, 42, ULONG_MAX};
  for (size_t t = 0; t < sizeof texts / sizeof *texts; t++) {
    for (size_t l = 0; l < sizeof longs / sizeof *longs; l++) {
      for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        for (size_t u = 0; u < sizeof unsigneds / sizeof *unsigneds; u++) {
          CHECK("%s://%s:%ld/%d?%u&%lu%%", texts[t], texts[(t + 1) % 4], longs[l], ints[i], unsigneds[u],
                unsigned_longs[u]);
          CHECK("%u/%ld/%s", unsigneds[u], longs[l], texts[t]);
          CHECK("Host: %s%s%s:%d\r\n", "", texts[t], "", ints[i]);
        }
      }
    }
  }
  CHECK("%s", "");
  CHECK("plain text only%s", "");
  CHECK("%5s|%-3d|%x|%.2s|%03ld", "ab", 4, 255u, "xyz", 7L); /* not plain: the engine, as before */
  char *nil = curl_maprintf("[%s]", (const char *)NULL);
  expect_same("a NULL %s", nil ? nil : "(out of memory)", "[(nil)]");
  curl_free(nil);
  if (failures) return 1;
  puts("check-printf: curl's printf writes what glibc's does");
  return 0;
}
