import { expect } from "vitest";
import { deniedSyscalls } from "../../src/docker/seccomp-profile.js";
import { hostileSuite, pythonErrno, pythonSyscall, type Runtime } from "../support/hostile-suite.js";

/** x86_64 system call numbers. */
const syscalls: Record<string, [number, number[]]> = {
  ptrace: [101, [16, 1, 0, 0]], // PTRACE_ATTACH to PID 1, the supervisor
  keyctl: [250, [0, 0, 0, 0]],
  add_key: [248, [0, 0, 0, 0, 0]],
  bpf: [321, [0, 0, 0]],
  userfaultfd: [323, [0]],
  perf_event_open: [298, [0, 0, 0xffffffff, 0, 0]],
  personality: [135, [0x0400000]], // READ_IMPLIES_EXEC
  io_uring_setup: [425, [8, 0]],
  unshare: [272, [0x10000000]], // CLONE_NEWUSER
  mount: [165, [0, 0, 0, 0, 0]],
  setns: [308, [0, 0]],
};

/** Under runc the seccomp profile answers EPERM; gVisor answers in its own words, but still no. */
function refused(result: string, runtime: Runtime): void {
  expect(result).not.toBe("ok");
  if (runtime === "runc") expect(result).toMatch(/^(EPERM|EACCES|EBADF|EFAULT|EINVAL)$/);
}

/** Python that reads 8 bytes of PID 1's memory with process_vm_readv, printing "ok" or the errno name. */
const readSupervisorMemory = [
  "import ctypes, errno",
  "class iovec(ctypes.Structure):",
  "    _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]",
  "libc = ctypes.CDLL(None, use_errno=True)",
  "buffer = ctypes.create_string_buffer(8)",
  "local = iovec(ctypes.cast(buffer, ctypes.c_void_p), 8)",
  // Any address: the access check comes before the address is looked at.
  "remote = iovec(0x400000, 8)",
  "result = libc.syscall(310, 1, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)",
  "print('ok' if result >= 0 else errno.errorcode.get(ctypes.get_errno(), ctypes.get_errno()))",
].join("\n");

hostileSuite("escalation", [
  {
    name: "process_vm_readv is refused",
    request: { language: "python", code: readSupervisorMemory },
    check(response) {
      expect(response.status).toBe("RUN_STATUS_OK");
      // runc: the seccomp profile denies the call; gVisor: PID 1 is another user's process.
      expect((response.stdout as string).trim()).toBe("EPERM");
    },
  },
  ...Object.entries(syscalls).map(([name, [number, args]]) => ({
    name: `${name} is refused`,
    request: { language: "python", code: pythonSyscall(number, args) },
    check(response: Record<string, unknown>, runtime: Runtime) {
      expect(response.status).toBe("RUN_STATUS_OK");
      const result = (response.stdout as string).trim();
      // The calls Aurea's profile denies outright answer EPERM under runc, whatever the arguments.
      if (runtime === "runc" && deniedSyscalls.includes(name)) expect(result).toBe("EPERM");
      // gVisor implements user namespaces inside its own kernel; creating one there reaches no
      // host kernel code, so it is allowed under runsc and refused under runc.
      if (name === "unshare" && runtime === "runsc") return;
      refused(result, runtime);
    },
  })),
  {
    name: "finds no setuid or setgid program to climb through",
    request: {
      language: "bash",
      code: "find / -xdev \\( -perm -4000 -o -perm -2000 \\) -type f 2>/dev/null | head; echo searched",
    },
    check(response) {
      expect(response).toMatchObject({ status: "RUN_STATUS_OK", stdout: "searched\n" });
    },
  },
  {
    name: "the mount and unshare commands fail",
    request: {
      language: "bash",
      code: "mount -t tmpfs none /tmp 2>/dev/null; echo mount $?; unshare -m true 2>/dev/null; echo unshare-mount $?",
    },
    check(response) {
      const [mount, unshare] = (response.stdout as string).trim().split("\n");
      expect(mount).toMatch(/^mount [1-9]\d*$/);
      expect(unshare).toMatch(/^unshare-mount [1-9]\d*$/);
    },
  },
  {
    name: "cannot write to the read-only root",
    request: { language: "python", code: pythonErrno("open('/etc/owned', 'w')"), readonly: true },
    check(response) {
      expect(["EROFS", "EACCES"]).toContain((response.stdout as string).trim());
    },
  },
  {
    name: "is not root and holds no capabilities",
    request: { language: "bash", code: "id -u; grep -E '^Cap(Eff|Prm|Bnd)' /proc/self/status" },
    check(response, runtime) {
      const [uid, ...caps] = (response.stdout as string).trim().split("\n");
      expect(uid).toBe("10001");
      for (const line of caps) {
        if (runtime === "runc" || !line.startsWith("CapBnd")) expect(line).toMatch(/:\s+0+$/);
      }
    },
  },
]);
