"""Containers of one image, without a container runtime: each is a PID and mount namespace (unshare --pid
--mount --fork, mounts private) whose program runs from its own overlayfs mount over one shared lower
directory, as two containers of one image run one file of one image layer. Everything (processes, mounts,
namespaces, directories) is gone after close(); the mounts exist only inside the namespaces."""
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time


class OverlayContainers:
    """`count` namespaces running `argv` (argv[0]: a path inside the lower directory, e.g. "/app/server"), the
    lower directory filled by `files` ({path inside: source file to copy}). `argv` may use {dir}, replaced by
    this instance's scratch directory (host-visible, shared by all: for ready files, certificates), and {i}, by
    the namespace's index."""

    def __init__(self, files, argv, count=2, env=None):
        self.dir = tempfile.mkdtemp(prefix="l7tap-overlay-")
        self.scratch = os.path.join(self.dir, "scratch")
        self.lower = os.path.join(self.dir, "lower")
        os.makedirs(self.scratch)
        for inside, source in files.items():
            dest = os.path.join(self.lower, inside.lstrip("/"))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy2(source, dest)
        self.procs, self.merged = [], []
        try:
            for i in range(count):
                self._start(i, [a.replace("{dir}", self.scratch).replace("{i}", str(i)) for a in argv], env)
        except BaseException:
            self.close()
            raise

    def _start(self, i, argv, env):
        base = os.path.join(self.dir, "c%d" % i)
        upper, work, merged = (os.path.join(base, d) for d in ("upper", "work", "merged"))
        for d in (upper, work, merged):
            os.makedirs(d)
        options = "lowerdir=%s,upperdir=%s,workdir=%s" % (self.lower, upper, work)
        program = os.path.join(merged, argv[0].lstrip("/"))
        script = "mount -t overlay overlay -o %s %s && exec %s" % (
            shlex.quote(options), shlex.quote(merged), " ".join(shlex.quote(a) for a in [program] + argv[1:]))
        proc = subprocess.Popen(["unshare", "--pid", "--mount", "--fork", "--propagation", "private",
                                 "sh", "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        self.procs.append(proc)
        self.merged.append(merged)

    def pids(self):
        """The host pid of each namespace's program (pid 1 inside; unshare's child outside); None once ended."""
        out = []
        for proc in self.procs:
            try:
                with open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) as f:
                    children = f.read().split()
            except OSError:  # unshare already ended (its program failed)
                children = []
            out.append(int(children[0]) if children else None)
        return out

    def wait_running(self, timeout=20):
        """Until every namespace's program is exec'd from its overlay mount."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = self.pids()
            try:
                if all(p and os.readlink("/proc/%d/exe" % p).startswith(m + "/") for p, m in zip(pids, self.merged)):
                    return pids
            except OSError:
                pass
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError("a namespace's program exited: %s" % proc.stderr.read().decode())
            time.sleep(0.02)
        raise TimeoutError("the namespaces' programs did not start")

    def close(self):
        # SIGKILL to each namespace's pid 1 ends everything in it; its private mounts go with the namespace.
        for pid in self.pids() if self.procs else []:
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stderr.close()
        self.procs = []
        for merged in self.merged:  # nothing is mounted here in the host namespace; check rather than assume
            with open("/proc/self/mountinfo") as f:
                if any(line.split()[4] == merged for line in f):
                    subprocess.run(["umount", "-l", merged], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
