"""What takes the space in the Lambda zip: the entries of the zip, the sections of `bootstrap`, and the
bytes of code and data each static archive brought in, found by matching the unstripped executable's
symbols (nm -S) with the symbols each archive defines. Symbols no archive claims are "unattributed"."""
import os
import re
import subprocess
import zipfile


def zip_entries(path):
    with zipfile.ZipFile(path) as z:
        return [{"name": i.filename, "size": i.file_size, "compressed": i.compress_size, "mode": oct(i.external_attr >> 16)}
                for i in z.infolist()]


def sections(binary):
    out = subprocess.run(["size", "-A", binary], capture_output=True, text=True, check=True).stdout
    result = {}
    for line in out.splitlines()[2:]:
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(".") and parts[1].isdigit():
            result[parts[0]] = int(parts[1])
    return result


_NM_LINE = re.compile(r"^(.*) ([A-Za-z?-]) ([0-9a-f]+)(?: ([0-9a-f]+))?$")


def _archive_symbols(archive, demangle=False):
    out = subprocess.run(["nm", "--defined-only", "-P"] + (["-C"] if demangle else []) + [archive],
                         capture_output=True, text=True).stdout
    return {m.group(1) for m in map(_NM_LINE.match, out.splitlines()) if m}


def symbol_owners(archives, demangle=False):
    """{symbol: owner} from every archive's defined symbols (the first archive to define a name wins)."""
    owner_of = {}
    for owner, paths in archives.items():
        for path in paths:
            for symbol in _archive_symbols(path, demangle):
                owner_of.setdefault(symbol, owner)
    return owner_of


def _find_archive(name):
    found = subprocess.run(["g++", "-print-file-name=" + name], capture_output=True, text=True).stdout.strip()
    return found if found != name and os.path.isfile(found) else None


def by_archive(binary, archives):
    """{owner: bytes} for the unstripped static `binary`; `archives` maps an owner name to .a paths."""
    owner_of = symbol_owners(archives)
    out = subprocess.run(["nm", "-S", "-P", "--defined-only", binary], capture_output=True, text=True,
                         check=True).stdout
    sizes = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        name, size = parts[0], int(parts[3], 16)
        owner = owner_of.get(name, "unattributed")
        sizes[owner] = sizes.get(owner, 0) + size
    return dict(sorted(sizes.items(), key=lambda kv: -kv[1]))


def default_archives(build_dir, curl_lib):
    archives = {"tourniquet (tq_*)": [os.path.join(build_dir, n) for n in ("libtq_runtime.a", "libtq_aws.a",
                                                                            "libtq_handlers.a")]}
    if curl_lib:
        archives["libcurl"] = [curl_lib]
    for owner, names in (("OpenSSL libcrypto", ["libcrypto.a"]), ("OpenSSL libssl", ["libssl.a"]),
                         ("zlib", ["libz.a"]), ("pugixml", ["libpugixml.a"]),
                         ("libstdc++", ["libstdc++.a", "libsupc++.a"]),
                         ("glibc", ["libc.a", "libm.a", "libpthread.a", "libresolv.a", "libdl.a", "librt.a"]),
                         ("libgcc", ["libgcc.a", "libgcc_eh.a"])):
        found = [p for p in (_find_archive(n) for n in names) if p]
        if found:
            archives[owner] = found
    archives = {k: [p for p in v if os.path.isfile(p)] for k, v in archives.items()}
    return {k: v for k, v in archives.items() if v}


def curl_archive(build_dir):
    """libcurl.a of the zip build, from its CMake cache (CURL_DIR = <prefix>/lib/cmake/CURL)."""
    try:
        with open(os.path.join(build_dir, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("CURL_DIR:"):
                    prefix = line.split("=", 1)[1].strip()
                    candidate = os.path.normpath(os.path.join(prefix, "..", "..", "libcurl.a"))
                    return candidate if os.path.isfile(candidate) else None
    except OSError:
        return None
    return None
