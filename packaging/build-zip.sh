#!/usr/bin/env bash
# Builds the Lambda deployment package: build/lambda/tourniquet.zip, whose only entry is `bootstrap`, one
# static executable that needs nothing of the machine it runs on (no interpreter, no shared library).
# libcurl comes from Debian's own source package of the installed libcurl (same version, same security
# patches), built once with only OpenSSL and zlib and cached; OpenSSL, zlib, pugixml, libstdc++ and glibc
# are Debian's static archives.
#
# Usage: packaging/build-zip.sh      (also: cmake --build build/release --target zip)
# Env:   TQ_CACHE_DIR (default ${XDG_CACHE_HOME:-$HOME/.cache}/tourniquet), TQ_LAMBDA_BUILD_DIR (build/lambda),
#        TQ_JOBS (2), CI=true adds -Werror like scripts/build.
set -euo pipefail
cd "$(dirname "$0")/.."

cache=${TQ_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tourniquet}
out=${TQ_LAMBDA_BUILD_DIR:-build/lambda}
jobs=${TQ_JOBS:-2}
# Bump when the curl options or patches below change, so that a cached build with other ones is not reused.
# 2: packaging/curl-patches/ (custom header lines appended whole, not byte by byte through curl's printf).
# 3: its printf appends strings to a dynbuf whole too; the header API (curl_easy_header, unused) left out.
# 4: a connection's IPv4 addresses written as text without sprintf.
# 5: plain printf formats written in one pass; the status line read without sscanf.
# 6: response headers curl does not act on passed over by their first letter.
# 7: the DNS cache pruned at most once a second (with one timeout).
curl_recipe=7

say() { echo "build-zip: $*" >&2; }
fail() { say "$*"; exit 1; }

for tool in cmake gcc g++ strip readelf zip apt-get dpkg-source dpkg-query; do
  command -v "$tool" >/dev/null || fail "$tool is missing (scripts/setup installs what the build needs)"
done
multiarch=$(gcc -print-multiarch)
for archive in libc.a libstdc++.a libssl.a libcrypto.a libz.a libpugixml.a; do
  found=$(g++ -print-file-name="$archive")
  [ "$found" != "$archive" ] && [ -f "$found" ] ||
    fail "static archive $archive is missing (Debian's -dev packages in scripts/setup provide it)"
done

# --- libcurl: Debian's source of the installed version, HTTP(S) only, OpenSSL + zlib, static ------------
curl_version=$(dpkg-query -W -f='${Version}' libcurl4-openssl-dev 2>/dev/null) ||
  fail "libcurl4-openssl-dev is not installed"
curl_version=${curl_version%+b[0-9]*}  # a binNMU has the source version of its package
curl_prefix=$cache/curl-static-$curl_version-r$curl_recipe

sources_for_deb_src() {
  # The Debian mirrors apt already uses, as deb-src lines (main only), from deb822 and one-line sources.
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk '
      function flush() {
        if (uris != "" && types ~ /deb/) {
          n = split(uris, u, " "); m = split(suites, s, " ")
          for (i = 1; i <= n; i++) for (j = 1; j <= m; j++)
            if (u[i] ~ /debian/) print "deb-src" (signed != "" ? " [signed-by=" signed "]" : "") " " u[i] " " s[j] " main"
        }
        uris = suites = types = signed = ""
      }
      /^[ \t]*$/ { flush(); next }
      /^Types:/ { sub(/^Types:[ \t]*/, ""); types = $0 }
      /^URIs:/ { sub(/^URIs:[ \t]*/, ""); uris = $0 }
      /^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0 }
      /^Signed-By:/ { sub(/^Signed-By:[ \t]*/, ""); signed = $0 }
      END { flush() }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk '$1 == "deb" && /debian/ { $1 = "deb-src"; print }' "$f"
  done
}

build_curl() {
  local work=$cache/curl-build.partial
  rm -rf "$work" "$curl_prefix"
  mkdir -p "$work/src" "$cache/apt/lists/partial" "$cache/apt/archives/partial"
  sources_for_deb_src | sort -u >"$cache/apt/sources.list"
  [ -s "$cache/apt/sources.list" ] || fail "no Debian mirror found in /etc/apt to fetch curl's source from"
  # A private apt state: the machine's own configuration and lists stay untouched.
  local apt=(apt-get -q -o Dir::Etc::SourceList="$cache/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
             -o Dir::State::Lists="$cache/apt/lists" -o Dir::Cache="$cache/apt" -o APT::Sandbox::User=root)
  say "fetching Debian's source of curl $curl_version"
  "${apt[@]}" update >"$work/apt.log" 2>&1 || { tail -5 "$work/apt.log" >&2; fail "apt-get update (deb-src) failed"; }
  (cd "$work/src" && "${apt[@]}" source "curl=$curl_version") >>"$work/apt.log" 2>&1 ||
    { tail -5 "$work/apt.log" >&2; fail "apt-get source curl=$curl_version failed"; }
  local src
  src=$(find "$work/src" -mindepth 1 -maxdepth 1 -type d -name 'curl-*' | head -1)
  [ -n "$src" ] || fail "curl's source did not unpack"
  # Our own patches on top of Debian's: speed only, no change of behaviour (see each file's header).
  local patch_file
  for patch_file in packaging/curl-patches/*.patch; do
    patch -d "$src" -p1 --forward --no-backup-if-mismatch <"$patch_file" >>"$work/apt.log" 2>&1 ||
      { tail -5 "$work/apt.log" >&2; fail "$patch_file does not apply to curl $curl_version"; }
  done

  say "building a static libcurl (HTTP and HTTPS, OpenSSL, zlib; a minute or two, once)"
  # No CA path compiled in from this machine: the AWS client passes its bundle (AWS_CA_BUNDLE, else Amazon
  # Linux's, else Debian's); Amazon Linux's bundle is only the fallback default. No OpenSSL config file
  # is read at load time (it would be this machine's path).
  cmake -S "$src" -B "$work/build" -G "Unix Makefiles" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$curl_prefix" -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
    -DBUILD_SHARED_LIBS=OFF -DBUILD_CURL_EXE=OFF -DBUILD_TESTING=OFF -DENABLE_MANUAL=OFF -DPICKY_COMPILER=OFF \
    -DHTTP_ONLY=ON -DCURL_USE_OPENSSL=ON -DOPENSSL_USE_STATIC_LIBS=ON -DZLIB_USE_STATIC_LIBS=ON \
    -DCURL_USE_LIBSSH2=OFF -DCURL_USE_LIBSSH=OFF -DCURL_USE_LIBPSL=OFF -DUSE_LIBIDN2=OFF -DUSE_NGHTTP2=OFF \
    -DCURL_USE_GSSAPI=OFF -DCURL_BROTLI=OFF -DCURL_ZSTD=OFF -DUSE_LIBRTMP=OFF -DENABLE_ARES=OFF \
    -DCURL_DISABLE_LDAP=ON -DCURL_DISABLE_LDAPS=ON -DENABLE_THREADED_RESOLVER=ON \
    -DCURL_CA_BUNDLE=/etc/pki/tls/certs/ca-bundle.crt -DCURL_CA_PATH=none -DCURL_CA_FALLBACK=OFF \
    -DCURL_DISABLE_COOKIES=ON -DCURL_DISABLE_ALTSVC=ON -DCURL_DISABLE_HSTS=ON -DCURL_DISABLE_NETRC=ON \
    -DCURL_DISABLE_NTLM=ON -DCURL_DISABLE_DOH=ON -DCURL_DISABLE_PROGRESS_METER=ON \
    -DCURL_DISABLE_OPENSSL_AUTO_LOAD_CONFIG=ON -DCMAKE_C_FLAGS=-DCURL_DISABLE_HEADERS_API=1 \
    >"$work/configure.log" 2>&1 ||
    { tail -20 "$work/configure.log" >&2; fail "configuring curl failed (log: $work/configure.log)"; }
  cmake --build "$work/build" -j "$jobs" --target install >"$work/build.log" 2>&1 ||
    { tail -20 "$work/build.log" >&2; fail "building curl failed (log: $work/build.log)"; }
  [ -f "$curl_prefix/lib/libcurl.a" ] || fail "curl installed no libcurl.a"
  # The printf patch must write what glibc writes: checked once, on the library just built.
  gcc -O2 -I"$curl_prefix/include" packaging/curl-patches/check-printf.c "$curl_prefix/lib/libcurl.a" \
    -lssl -lcrypto -lz -lpthread -o "$work/check-printf" 2>"$work/check-printf.log" ||
    { cat "$work/check-printf.log" >&2; rm -rf "$curl_prefix"; fail "check-printf.c did not build"; }
  "$work/check-printf" >&2 || { rm -rf "$curl_prefix"; fail "curl's patched printf writes other text than glibc's"; }
  rm -rf "$work"
}

mkdir -p "$cache"
exec 9>"$cache/curl-static.lock"
flock 9
[ -f "$curl_prefix/lib/cmake/CURL/CURLConfig.cmake" ] || build_curl
flock -u 9

# --- the executable ------------------------------------------------------------------------------------
args=(-DCMAKE_BUILD_TYPE=Release -DTOURNIQUET_STATIC=ON -DTOURNIQUET_TESTS=OFF
      -DCURL_DIR="$curl_prefix/lib/cmake/CURL")
[ "${CI:-}" = "true" ] && args+=(-DTOURNIQUET_WERROR=ON)
cmake -S . -B "$out" -G "Unix Makefiles" "${args[@]}" >/dev/null
# glibc's notes that static dlopen/getaddrinfo need its shared modules are answered by packaging/static_nss.cpp.
cmake --build "$out" -j "$jobs" --target tourniquet 2>&1 |
  grep -vE '^\[ *[0-9]+%\]|^Consolidate|^Scanning|statically linked applications requires at runtime|: in function .*:$' || true
test "${PIPESTATUS[0]}" -eq 0 || fail "building the static executable failed"

binary=$out/tourniquet
# What Lambda will exec must stand alone: no PT_INTERP, no DT_NEEDED.
if readelf -lW "$binary" | grep -q 'Requesting program interpreter'; then fail "$binary has an interpreter"; fi
if readelf -dW "$binary" | grep -q '(NEEDED)'; then fail "$binary needs shared libraries"; fi

# --- the zip: bootstrap at its root, executable, with a fixed time so that equal builds give equal zips -
stage=$out/zip-root
rm -rf "$stage" "$out/tourniquet.zip"
mkdir -p "$stage"
strip --strip-all -o "$stage/bootstrap" "$binary"
chmod 0755 "$stage/bootstrap"
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 315532800)}
touch -d "@$epoch" "$stage/bootstrap"
(cd "$stage" && TZ=UTC zip -q -X -9 ../tourniquet.zip bootstrap)
say "$out/tourniquet.zip: $(stat -c %s "$out/tourniquet.zip") bytes (bootstrap $(stat -c %s "$stage/bootstrap") bytes," \
    "libcurl $curl_version, static, for ${multiarch})"
echo "$out/tourniquet.zip"
