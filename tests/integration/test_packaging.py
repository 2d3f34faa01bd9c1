"""The Lambda zip stands alone. packaging/build-zip.sh builds build/lambda/tourniquet.zip; this test unpacks it
at /var/task of a minimal Debian bullseye root (glibc 2.31: older than Lambda's provided.al2023, 2.34, and the
build machine's 2.36), made once by scripts/bullseye-root with debootstrap and cached, and runs `bootstrap`
there with nothing of the build machine: a private mount namespace, the root's own /dev, a fresh /proc, and
an environment holding only what Lambda sets.
"""

import os
import shutil
import struct
import subprocess
import tempfile
import time
import unittest
import zipfile

SOURCE_DIR = os.environ.get("TQ_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILD_ZIP = os.path.join(SOURCE_DIR, "packaging", "build-zip.sh")
BULLSEYE_ROOT = os.path.join(SOURCE_DIR, "scripts", "bullseye-root")
ZIP_LIMIT = 4 * 1024 * 1024
LAMBDA_GLIBC = (2, 34)  # provided.al2023

# What the Lambda service puts in a provided.al2023 function's environment (less credentials and names
# that vary). Its LD_LIBRARY_PATH names the system's library directories before /var/task/lib; bullseye
# keeps its libraries in the multiarch directories, so they stand where Amazon Linux's /lib64 stands.
LAMBDA_ENV = {
    "PATH": "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
    "LD_LIBRARY_PATH": "/var/lang/lib:/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu:/lib64:/usr/lib64:"
                       "/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
    "LANG": "en_US.UTF-8",
    "TZ": ":UTC",
    "LAMBDA_TASK_ROOT": "/var/task",
    "LAMBDA_RUNTIME_DIR": "/var/runtime",
    "_HANDLER": "tourniquet",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_LAMBDA_FUNCTION_NAME": "tourniquet",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_LAMBDA_LOG_FORMAT": "JSON",
    "AWS_LAMBDA_LOG_LEVEL": "INFO",
}


def _tail(text, lines=8):
    return "\n".join(text.strip().splitlines()[-lines:])


def elf_facts(path):
    """(machine, type, has PT_INTERP, DT_NEEDED count) of a 64-bit little-endian ELF file."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError("%s is not a 64-bit little-endian ELF file" % path)
    e_type, e_machine = struct.unpack_from("<HH", data, 16)
    e_phoff, = struct.unpack_from("<Q", data, 32)
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 54)
    has_interp, needed = False, 0
    for i in range(e_phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", data, e_phoff + i * e_phentsize)
        if p_type == 3:  # PT_INTERP
            has_interp = True
        elif p_type == 2:  # PT_DYNAMIC: (d_tag, d_val) pairs up to DT_NULL
            for off in range(p_offset, p_offset + p_filesz, 16):
                tag, _ = struct.unpack_from("<qQ", data, off)
                if tag == 0:
                    break
                needed += tag == 1  # DT_NEEDED
    return e_machine, e_type, has_interp, needed


def glibc_version_of_root(root):
    for directory in ("lib/x86_64-linux-gnu", "lib64", "usr/lib64"):
        names = os.listdir(os.path.join(root, directory)) if os.path.isdir(os.path.join(root, directory)) else []
        for name in names:
            if name.startswith("libc-") and name.endswith(".so"):
                return tuple(int(x) for x in name[len("libc-"):-len(".so")].split("."))
    return None


class PackagingTest(unittest.TestCase):
    root = None
    zip_path = None
    task_dir = None

    @classmethod
    def setUpClass(cls):
        if os.uname().machine != "x86_64":
            raise unittest.SkipTest("the Lambda zip is built for x86_64; this machine is %s" % os.uname().machine)
        if os.geteuid() != 0:
            raise unittest.SkipTest("running bootstrap in the bullseye root needs root (debootstrap, mount, chroot)")
        for tool in ("unshare", "mount", "debootstrap"):
            if not shutil.which(tool) and not os.path.exists("/usr/sbin/" + tool):
                raise unittest.SkipTest("%s is missing: cannot build or enter the bullseye root" % tool)

        # The root (mostly network and dpkg) and the zip (mostly compiling) are made side by side.
        root_log = tempfile.TemporaryFile()
        root_job = subprocess.Popen([BULLSEYE_ROOT], stdout=subprocess.PIPE, stderr=root_log, text=True)
        zip_job = subprocess.run([BUILD_ZIP], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 timeout=1500)
        root_out, _ = root_job.communicate(timeout=1500)
        root_log.seek(0)
        root_err = root_log.read().decode("utf-8", "replace")
        root_log.close()

        if zip_job.returncode != 0:
            raise AssertionError("packaging/build-zip.sh failed:\n" + _tail(zip_job.stderr, 30))
        cls.zip_path = os.path.join(SOURCE_DIR, zip_job.stdout.strip().splitlines()[-1])
        if root_job.returncode != 0:
            raise unittest.SkipTest("the Debian bullseye root could not be built (scripts/bullseye-root): "
                                    + _tail(root_err, 4).replace("\n", " | "))
        cls.root = root_out.strip().splitlines()[-1]

        cls.task_dir = tempfile.mkdtemp(prefix="tq-var-task-")
        with zipfile.ZipFile(cls.zip_path) as archive:
            for info in archive.infolist():
                archive.extract(info, cls.task_dir)
                mode = (info.external_attr >> 16) & 0o777
                if mode:
                    os.chmod(os.path.join(cls.task_dir, info.filename), mode)

    @classmethod
    def tearDownClass(cls):
        if cls.task_dir:
            shutil.rmtree(cls.task_dir, ignore_errors=True)

    def run_in_root(self, args, env=None, timeout=30):
        """Runs /var/task/<args> inside the root as Lambda would: cwd /var/task, only the given environment.
        The mounts live in a private mount namespace and vanish with the process; the cached root is unchanged."""
        script = ('mount --bind "$1" "$2/var/task" && mount -t proc proc "$2/proc" && '
                  'root=$2 && shift 2 && exec unshare --root="$root" --wd=/var/task -- "$@"')
        environment = dict(LAMBDA_ENV, **(env or {}))
        # The host tools that enter the root are named by full path; the environment is Lambda's alone.
        command = [shutil.which("unshare"), "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script,
                   "sh", self.task_dir, self.root] + list(args)
        return subprocess.run(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout)

    def test_zip_holds_one_executable_bootstrap_at_its_root(self):
        with zipfile.ZipFile(self.zip_path) as archive:
            infos = archive.infolist()
            self.assertEqual(["bootstrap"], [i.filename for i in infos])
            mode = infos[0].external_attr >> 16
            self.assertEqual(0o100755, mode, "bootstrap must be a regular file with mode 0755, not %o" % mode)
        size = os.path.getsize(self.zip_path)
        print("\n  tourniquet.zip: %d bytes; bootstrap: %d bytes"
              % (size, os.path.getsize(os.path.join(self.task_dir, "bootstrap"))))
        self.assertLessEqual(size, ZIP_LIMIT)

    def test_bootstrap_is_the_executable_itself_and_needs_no_loader_or_library(self):
        machine, elf_type, has_interp, needed = elf_facts(os.path.join(self.task_dir, "bootstrap"))
        self.assertEqual(62, machine, "not x86-64")
        self.assertIn(elf_type, (2, 3), "not an executable")  # ET_EXEC, or ET_DYN for static-pie
        self.assertFalse(has_interp, "bootstrap asks for a program interpreter")
        self.assertEqual(0, needed, "bootstrap needs shared libraries")

    def test_the_root_is_older_than_lambda_and_holds_nothing_of_ours(self):
        version = glibc_version_of_root(self.root)
        self.assertIsNotNone(version, "no glibc found in %s" % self.root)
        self.assertLess(version, LAMBDA_GLIBC, "the root's glibc %s is not older than Lambda's" % (version,))
        self.assertEqual([], os.listdir(os.path.join(self.root, "var", "task")))

    def test_bootstrap_runs_in_the_older_root(self):
        done = self.run_in_root(["/var/task/bootstrap"])
        self.assertEqual(0, done.returncode, done.stderr.decode("utf-8", "replace"))
        self.assertIn(b"tourniquet", done.stdout)

    def test_cold_start_in_the_older_root(self):
        # Inside the root, 5 rounds of 40 runs each of the root's own /bin/true (a small dynamically linked
        # program) and of bootstrap; the fastest round of each counts, as the others carry the machine's noise.
        # The difference is what bootstrap adds to a cold start: exec, relocation, static initialisation.
        script = ('TIMEFORMAT=%R; for r in 1 2 3 4 5; do for p in /bin/true /var/task/bootstrap; do '
                  't=$( { time (for i in $(seq 40); do "$p" >/dev/null 2>&1 || exit 3; done); } 2>&1 ) || '
                  '{ echo "FAIL $p"; exit 3; }; echo "$p $t"; done; done')
        done = self.run_in_root(["/bin/bash", "-c", script], timeout=120)
        output = done.stdout.decode("utf-8", "replace")
        self.assertEqual(0, done.returncode, output + done.stderr.decode("utf-8", "replace"))
        best = {}
        for line in output.splitlines():
            program, seconds = line.split()
            best[program] = min(best.get(program, float("inf")), float(seconds) / 40)
        baseline, bootstrap = best["/bin/true"], best["/var/task/bootstrap"]
        print("\n  cold start, exec to exit (best of 5 rounds of 40): /bin/true %.2f ms, bootstrap %.2f ms"
              % (baseline * 1e3, bootstrap * 1e3))
        # A loader started by a wrapper script, or a few dozen bundled shared libraries, costs more than this.
        self.assertLess(bootstrap - baseline, 0.005)

if __name__ == "__main__":
    unittest.main()
