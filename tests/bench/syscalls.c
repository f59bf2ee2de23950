/* Times system calls from inside a container: `syscalls SCALE` prints one
 * line per operation, "name nanoseconds-per-operation", measured with
 * clock_gettime(CLOCK_MONOTONIC) around a loop. SCALE multiplies the
 * iteration counts (1 is a quick run). Built with gcc -static by
 * `deno task bench` and run unchanged under runc, runsc and dvisor. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void report(const char *name, double start, long n) {
  printf("%s %.1f\n", name, (now_ns() - start) / n);
  fflush(stdout);
}

static void fail(const char *what) {
  perror(what);
  exit(1);
}

#define CHUNK 65536

/* A connected pair: a socketpair, or a TCP connection on 127.0.0.1. Returns 0 on success. */
static int connected(int tcp, int fds[2]) {
  if (!tcp) return socketpair(AF_UNIX, SOCK_STREAM, 0, fds);
  int l = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) ||
      getsockname(l, (struct sockaddr *)&a, &len))
    return -1;
  fds[0] = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(fds[0], (struct sockaddr *)&a, sizeof a)) return -1;
  fds[1] = accept(l, NULL, NULL);
  close(l);
  return fds[1] < 0 ? -1 : 0;
}

/* One-byte round trips and 64 KiB transfers over a stream socket, with a
 * forked peer; skipped (no line) where the runtime gives no such socket. */
static void stream_bench(int tcp, long scale) {
  const char *rt = tcp ? "tcp round trip" : "unix round trip";
  const char *bulk = tcp ? "tcp 64KiB" : "unix 64KiB";
  int fds[2];
  if (connected(tcp, fds)) return;
  long n = 500 * scale, m = 100 * scale;
  pid_t child = fork();
  if (child < 0) fail("fork");
  static char data[CHUNK];
  if (child == 0) {
    close(fds[0]);
    char c;
    for (long i = 0; i < n; i++)
      if (read(fds[1], &c, 1) != 1 || write(fds[1], &c, 1) != 1) _exit(1);
    for (long left = (long)m * CHUNK; left > 0;) {
      long r = read(fds[1], data, CHUNK);
      if (r <= 0) _exit(1);
      left -= r;
    }
    write(fds[1], "k", 1);
    _exit(0);
  }
  close(fds[1]);
  double t = now_ns();
  for (long i = 0; i < n; i++) {
    char c = 'x';
    if (write(fds[0], &c, 1) != 1 || read(fds[0], &c, 1) != 1) fail(rt);
  }
  report(rt, t, n);
  t = now_ns();
  for (long i = 0; i < m; i++)
    for (long at = 0; at < CHUNK;) {
      long w = write(fds[0], data + at, CHUNK - at);
      if (w <= 0) fail(bulk);
      at += w;
    }
  char k;
  if (read(fds[0], &k, 1) != 1) fail(bulk);
  report(bulk, t, m);
  close(fds[0]);
  waitpid(child, NULL, 0);
}

#define FILE_MIB 64

/* Writes a 64 MiB file in 64 KiB writes, reads it back, then reads 4 KiB
 * at pseudo-random offsets; in a directory (a tmpfs, a bind mount of a
 * host directory). Skipped (no lines) where the directory is missing. */
static void file_bench(const char *dir, const char *label, long scale) {
  char path[256], name[64];
  snprintf(path, sizeof path, "%s/bench-data", dir);
  int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
  if (fd < 0) return;
  static char data[CHUNK];
  memset(data, 'd', sizeof data);
  long chunks = FILE_MIB * 1024 * 1024 / CHUNK;
  double t = now_ns();
  for (long i = 0; i < chunks; i++)
    if (write(fd, data, CHUNK) != CHUNK) fail("file write");
  snprintf(name, sizeof name, "%s write 64MiB", label);
  report(name, t, 1);
  lseek(fd, 0, SEEK_SET);
  t = now_ns();
  for (long i = 0; i < chunks; i++)
    if (read(fd, data, CHUNK) != CHUNK) fail("file read");
  snprintf(name, sizeof name, "%s read 64MiB", label);
  report(name, t, 1);
  long n = 2000 * scale, pages = FILE_MIB * 256;
  unsigned long x = 12345;
  t = now_ns();
  for (long i = 0; i < n; i++) {
    x = x * 6364136223846793005UL + 1442695040888963407UL;
    if (pread(fd, data, 4096, (off_t)((x >> 33) % pages) * 4096) != 4096) fail("pread");
  }
  snprintf(name, sizeof name, "%s rand 4KiB read", label);
  report(name, t, n);
  close(fd);
  unlink(path);
}

/* Two processes wake each other through eventfds each watches with
 * epoll_wait: one line per round trip (two wakeups). */
static void epoll_bench(long scale) {
  int a = eventfd(0, 0), b = eventfd(0, 0);
  if (a < 0 || b < 0) return;
  long n = 500 * scale;
  pid_t child = fork();
  if (child < 0) fail("fork");
  uint64_t one = 1, v;
  struct epoll_event ev = {.events = EPOLLIN}, out;
  if (child == 0) {
    int ep = epoll_create1(0);
    epoll_ctl(ep, EPOLL_CTL_ADD, a, &ev);
    for (long i = 0; i < n; i++) {
      if (epoll_wait(ep, &out, 1, -1) != 1 || read(a, &v, 8) != 8) _exit(1);
      if (write(b, &one, 8) != 8) _exit(1);
    }
    _exit(0);
  }
  int ep = epoll_create1(0);
  epoll_ctl(ep, EPOLL_CTL_ADD, b, &ev);
  double t = now_ns();
  for (long i = 0; i < n; i++) {
    if (write(a, &one, 8) != 8) fail("eventfd write");
    if (epoll_wait(ep, &out, 1, -1) != 1 || read(b, &v, 8) != 8) fail("epoll_wait");
  }
  report("epoll round trip", t, n);
  waitpid(child, NULL, 0);
  close(ep);
  close(a);
  close(b);
}

int main(int argc, char **argv) {
  long scale = argc > 1 ? atol(argv[1]) : 1;
  /* "syscalls SCALE tcp": the loopback TCP lines only (the host-network comparison). */
  if (argc > 2 && strcmp(argv[2], "tcp") == 0) {
    stream_bench(1, scale);
    return 0;
  }
  const char *file = "/bench-file";
  int fd = open(file, O_RDONLY);
  if (fd < 0) fail("open /bench-file");
  close(fd);
  char buf[4096];

  long n = 2000 * scale;
  double t = now_ns();
  for (long i = 0; i < n; i++) syscall(SYS_getpid);
  report("getpid", t, n);

  n = 500 * scale;
  t = now_ns();
  for (long i = 0; i < n; i++) {
    fd = open(file, O_RDONLY);
    if (fd < 0 || read(fd, buf, sizeof buf) < 0) fail("open+read");
    close(fd);
  }
  report("open+read+close", t, n);

  n = 1000 * scale;
  struct stat st;
  t = now_ns();
  for (long i = 0; i < n; i++)
    if (stat(file, &st) != 0) fail("stat");
  report("stat", t, n);

  int ping[2], pong[2];
  if (pipe(ping) || pipe(pong)) fail("pipe");
  n = 500 * scale;
  pid_t child = fork();
  if (child < 0) fail("fork");
  if (child == 0) {
    char c;
    for (long i = 0; i < n; i++) {
      if (read(ping[0], &c, 1) != 1 || write(pong[1], &c, 1) != 1) _exit(1);
    }
    _exit(0);
  }
  t = now_ns();
  for (long i = 0; i < n; i++) {
    char c = 'x';
    if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1) fail("pipe round trip");
  }
  report("pipe round trip", t, n);
  waitpid(child, NULL, 0);

  stream_bench(0, scale);
  stream_bench(1, scale);
  epoll_bench(scale);
  file_bench("/bench-tmp", "tmpfs", scale);
  file_bench("/bench-rw", "bind", scale);

  n = 5000 * scale;
  t = now_ns();
  for (long i = 0; i < n; i++) {
    void *p = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) fail("mmap");
    munmap(p, 65536);
  }
  report("mmap+munmap", t, n);

  n = 20 * scale;
  t = now_ns();
  for (long i = 0; i < n; i++) {
    pid_t p = fork();
    if (p == 0) {
      execl("/bin/true", "true", (char *)NULL);
      _exit(127);
    }
    int status;
    if (p < 0 || waitpid(p, &status, 0) != p || status != 0) fail("fork+exec+wait");
  }
  report("fork+exec+wait", t, n);

  n = 200000 * scale;
  struct timespec ts;
  t = now_ns();
  for (long i = 0; i < n; i++) clock_gettime(CLOCK_MONOTONIC, &ts);
  report("clock_gettime", t, n);
  return 0;
}
