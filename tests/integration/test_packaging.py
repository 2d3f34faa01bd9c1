"""The Lambda zip stands alone. packaging/build-zip.sh builds build/lambda/tourniquet.zip; this test unpacks it
at /var/task of a minimal Debian bullseye root (glibc 2.31: older than Lambda's provided.al2023, 2.34, and the
build machine's 2.36), made once by scripts/bullseye-root with debootstrap and cached, and runs `bootstrap`
there with nothing of the build machine: a private mount namespace, the root's own /dev, a fresh /proc, and
an environment holding only what Lambda sets. There it serves one invocation from the local Runtime API
server and contains an instance in moto (the AWS emulator, its signature checks on), which it finds by name
through the static glibc's resolver, under an nsswitch.conf that names a module such a glibc could not load.
"""

import json
import os
import re
import shlex
import shutil
import struct
import subprocess
import tempfile
import time
import unittest
import uuid
import zipfile

from moto_support import ACCOUNT, Moto
from standin_support import GuardDutyStandIn, set_finding_arn
from runtime_harness import RuntimeApiServer

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


def template_tunables():
    """The allocator's tunables packaging/template.yaml gives the function: the zip runs here as deployed."""
    with open(os.path.join(SOURCE_DIR, "packaging", "template.yaml")) as f:
        found = re.search(r"^\s+GLIBC_TUNABLES:\s*(\S+)\s*$", f.read(), re.MULTILINE)
    return {"GLIBC_TUNABLES": found.group(1)} if found else {}


LAMBDA_ENV.update(template_tunables())


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
        probe = subprocess.run([shutil.which("unshare"), "--mount", "--", "true"], capture_output=True, text=True)
        if probe.returncode != 0:
            raise unittest.SkipTest("cannot make a mount namespace here to enter the root: " + probe.stderr.strip())

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

    def root_command(self, args, binds=()):
        """The command that runs /var/task/<args> inside the root as Lambda would: cwd /var/task, nothing of
        the build machine. The mounts (the unpacked zip at /var/task, a fresh /proc, and `binds`: (file of the
        test, path in the root)) live in a private mount namespace and vanish with the process: the cached root
        is never changed. The host tools that enter the root are named by full path."""
        script = 'mount --bind "$1" "$2/var/task" && mount -t proc proc "$2/proc" && root=$2 && shift 2'
        for source, target in binds:
            script += ' && mount --bind %s "$root%s"' % (shlex.quote(source), shlex.quote(target))
        script += ' && exec %s --root="$root" --wd=/var/task -- "$@"' % shutil.which("unshare")
        return [shutil.which("unshare"), "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script,
                "sh", self.task_dir, self.root] + list(args)

    def file_beside_task(self, name, text):
        """A file of the test's own (not in the root, not in /var/task), to be bound over one of the root's."""
        path = "%s-%s" % (self.task_dir, name)
        with open(path, "w") as f:
            f.write(text)
        self.addCleanup(os.unlink, path)
        return path

    def run_in_root(self, args, env=None, timeout=30):
        return subprocess.run(self.root_command(args), env=dict(LAMBDA_ENV, **(env or {})),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)

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
        done = self.run_in_root(["/var/task/bootstrap", "--version"])
        self.assertEqual(0, done.returncode, done.stderr.decode("utf-8", "replace"))
        self.assertRegex(done.stdout.decode(), r"^tourniquet \d+\.\d+\.\d+\n$")

    def test_an_invocation_in_the_older_root_contains_an_instance_in_moto(self):
        moto = Moto()
        self.addCleanup(moto.log.close)
        self.addCleanup(moto.stop)
        guardduty = GuardDutyStandIn()  # Tourniquet confirms the finding with GuardDuty before acting
        self.addCleanup(guardduty.stop)
        moto.attach_guardduty(guardduty)
        key, secret = moto.admin()
        ec2 = moto.client("ec2", key, secret)
        moto.enforce_auth()  # from here on every call must carry a good SigV4 signature (static OpenSSL's)
        image = ec2.describe_images()["Images"][0]["ImageId"]
        instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro")["Instances"][0]
        instance_id = instance["InstanceId"]
        interface_id = instance["NetworkInterfaces"][0]["NetworkInterfaceId"]

        # A static glibc cannot load NSS modules other than its built-in `files` and `dns` (it aborts);
        # hosts whose nsswitch.conf lists e.g. myhostname or resolve exist, and bullseye has hesiod at hand.
        # moto gets a name of its own: libcurl answers `localhost` itself, without asking the resolver.
        nsswitch = self.file_beside_task("nsswitch.conf", "hosts: hesiod files dns\n")
        hosts = self.file_beside_task("hosts", "127.0.0.1\tlocalhost aws-emulator.test\n")

        api = RuntimeApiServer()
        self.addCleanup(api.close)
        env = dict(LAMBDA_ENV, AWS_LAMBDA_RUNTIME_API=api.endpoint, AWS_ACCESS_KEY_ID=key,
                   AWS_SECRET_ACCESS_KEY=secret, AWS_ENDPOINT_URL="http://aws-emulator.test:%d" % moto.port,
                   AWS_ENDPOINT_URL_GUARDDUTY="http://aws-emulator.test:%d" % guardduty.port)
        output = tempfile.TemporaryFile()
        self.addCleanup(output.close)
        entered = time.time()
        self.assertEqual(0, self.run_in_root(["/bin/true"]).returncode)
        entering = time.time() - entered  # what the namespace, the mounts and the chroot alone cost
        spawned = time.time()
        bootstrap = subprocess.Popen(self.root_command(["/var/task/bootstrap"], [(nsswitch, "/etc/nsswitch.conf"),
                                                                       (hosts, "/etc/hosts")]),
                                     env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=output)
        try:
            finding = "tq-packaging-" + uuid.uuid4().hex
            detail = {"schemaVersion": "2.0", "accountId": ACCOUNT, "region": "us-east-1", "id": finding,
                      "arn": "arn:aws:guardduty:us-east-1:%s:detector/packaging/finding/%s" % (ACCOUNT, finding),
                      "type": "Backdoor:EC2/C&CActivity.B", "severity": 8, "title": "C&C activity",
                      "resource": {"resourceType": "Instance", "instanceDetails": {"instanceId": instance_id}},
                      "service": {"count": 1, "archived": False}}
            set_finding_arn(detail)
            guardduty.put_finding(detail)  # what GuardDuty published, and answers GetFindings with
            request_id = api.enqueue(json.dumps({
                "version": "0", "id": str(uuid.uuid4()), "detail-type": "GuardDuty Finding",
                "source": "aws.guardduty", "account": ACCOUNT, "time": "2024-05-01T12:00:00Z",
                "region": "us-east-1", "resources": [], "detail": detail}))[0]["request_id"]
            posts = api.posts(min_posts=1, timeout=90)
            first_next = api.state()["first_next_at"]
            still_running = bootstrap.poll() is None
        finally:
            bootstrap.terminate()
            bootstrap.wait(timeout=10)
        output.seek(0)
        logs = output.read().decode("utf-8", "replace")

        self.assertTrue(still_running, "bootstrap ended after one invocation:\n" + _tail(logs))
        self.assertEqual(1, len(posts), _tail(logs))
        self.assertEqual(("response", request_id, 202), (posts[0]["kind"], posts[0]["request_id"],
                                                         posts[0]["status"]), _tail(logs))
        response = json.loads(posts[0]["body"])
        self.assertEqual("contained", response["status"], posts[0]["body"][:2000])
        groups = ec2.describe_network_interfaces(NetworkInterfaceIds=[interface_id])["NetworkInterfaces"][0]["Groups"]
        self.assertEqual(["tourniquet-isolation-" + instance["VpcId"]], [g["GroupName"] for g in groups])
        self.assertIsNotNone(first_next)
        print("\n  spawn to the first /next: %.1f ms, of which entering the root (timed with /bin/true) %.1f ms"
              % ((first_next - spawned) * 1e3, entering * 1e3))

    def test_cold_start_in_the_older_root(self):
        # Inside the root, 5 rounds of 40 runs each of the root's own /bin/true (a small dynamically linked
        # program) and of `bootstrap --version`; the fastest round of each counts, as the others carry the
        # machine's noise. The difference is what bootstrap adds to a cold start before its first request:
        # exec, loading, relocation, static initialisation.
        script = ('TIMEFORMAT=%R; for r in 1 2 3 4 5; do for p in /bin/true /var/task/bootstrap; do '
                  't=$( { time (for i in $(seq 40); do "$p" --version >/dev/null 2>&1 || exit 3; done); } 2>&1 ) || '
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
