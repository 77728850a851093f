"A real single-host Slurm cluster for tests: Debian's munge and slurm-wlm, installed when missing, started in a temp dir."
import os, shutil, socket, subprocess, time
from pathlib import Path

PACKAGES = ("slurm-wlm", "slurmctld", "slurmd", "munge")


def ensure_packages() -> str | None:
    "Install Debian's Slurm and munge when missing; the reason they cannot be had, or None when they are there."
    if all(shutil.which(x) or Path(f"/usr/sbin/{x}").exists() for x in ("slurmctld", "slurmd", "munged", "sbatch")): return None
    if not shutil.which("apt-get"): return "no apt-get to install Debian's slurm-wlm and munge"
    for argv in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=600", *PACKAGES]):
        r = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
        if r.returncode: return f"{' '.join(argv)} failed: {r.stderr.strip()[-500:]}"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def wait_for(cond, timeout: float, what: str, logs=()):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if cond(): return
        time.sleep(0.3)
    tails = "\n".join(f"--- {p}:\n{Path(p).read_text(errors='replace')[-2000:]}" for p in logs if Path(p).exists())
    raise TimeoutError(f"{what} not ready after {timeout} s\n{tails}")


class Cluster:
    "munged (as user munge), slurmctld and slurmd in the foreground, one node: this host; stop() ends them by pid."

    def __init__(self, root: Path):
        self.root = Path(root); self.procs = []
        self.root.mkdir(parents=True, exist_ok=True); os.chmod(self.root, 0o755)
        self.host = socket.gethostname().split(".")[0]
        m = self.root / "munge"; m.mkdir(exist_ok=True); os.chmod(m, 0o755)  # munged wants its socket folder searchable by all
        shutil.copy("/etc/munge/munge.key", m / "munge.key"); os.chmod(m / "munge.key", 0o600)
        shutil.chown(m, "munge", "munge"); shutil.chown(m / "munge.key", "munge", "munge")
        self.socket = m / "munge.socket"
        for d in ("state", "spool"): (self.root / d).mkdir(exist_ok=True)
        self.conf = self.root / "slurm.conf"
        self.conf.write_text("\n".join([
            "ClusterName=sftnbtest", f"SlurmctldHost={self.host}", "SlurmUser=root", "AuthType=auth/munge", "CredType=cred/munge",
            f"AuthInfo=socket={self.socket}", "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "MpiDefault=none",
            "SelectType=select/cons_tres", "SelectTypeParameters=CR_CPU", "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/none", "JobAcctGatherType=jobacct_gather/none", "ReturnToService=2", "MinJobAge=3600",
            f"SlurmctldPort={free_port()}", f"SlurmdPort={free_port()}",
            f"StateSaveLocation={self.root / 'state'}", f"SlurmdSpoolDir={self.root / 'spool'}",
            f"SlurmctldPidFile={self.root / 'slurmctld.pid'}", f"SlurmdPidFile={self.root / 'slurmd.pid'}",
            f"SlurmctldLogFile={self.root / 'slurmctld.log'}", f"SlurmdLogFile={self.root / 'slurmd.log'}",
            f"NodeName={self.host} CPUs={os.cpu_count()} State=UNKNOWN",
            f"PartitionName=debug Nodes={self.host} Default=YES MaxTime=INFINITE State=UP", ""]))
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}

    def start(self):
        m = self.root / "munge"
        self.procs.append(subprocess.Popen(["runuser", "-u", "munge", "--", "/usr/sbin/munged", "-F", f"--key-file={m / 'munge.key'}",
                                            f"--socket={self.socket}", f"--pid-file={m / 'munged.pid'}", f"--seed-file={m / 'seed'}",
                                            f"--log-file={m / 'munged.log'}"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        wait_for(self.socket.exists, 30, "munged", [m / "munged.log"])
        for daemon in ("slurmctld", "slurmd"):
            log = open(self.root / f"{daemon}.out", "w")
            self.procs.append(subprocess.Popen([f"/usr/sbin/{daemon}", "-D", "-f", str(self.conf)], env=self.env, stdout=log, stderr=subprocess.STDOUT))
        logs = [self.root / f for f in ("slurmctld.log", "slurmd.log", "slurmctld.out", "slurmd.out")]
        wait_for(lambda: "State=IDLE" in self.scontrol("show", "node", self.host), 60, "the slurm node", logs)
        return self

    def scontrol(self, *args) -> str:
        r = subprocess.run(["scontrol", *args], capture_output=True, text=True, env=self.env, timeout=60)
        return r.stdout + r.stderr

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None: p.terminate()
        for p in reversed(self.procs):
            try: p.wait(timeout=20)
            except subprocess.TimeoutExpired: p.kill(); p.wait()
        # runuser's child munged is in runuser's group; end it by its pid file if it outlived runuser
        pid_file = self.root / "munge/munged.pid"
        if pid_file.exists():
            try: os.kill(int(pid_file.read_text().strip()), 15)
            except (ValueError, ProcessLookupError): pass
