/*
 * pingpong: the load generator behind `rootline bench collector`.
 *
 *   pingpong server --port P [--cpu C]
 *   pingpong client --port P --requests N [--rate R] [--conns C] [--cpu C]
 *
 * HTTP/1.1 keep-alive request/response over loopback with plain blocking write()/read(), i.e. the syscalls the
 * collector's tracepoints see, so the bench measures what the collector adds to a real request. The client
 * prints one JSON line with the throughput and round-trip latency percentiles.
 *
 * --cpu pins the process to one CPU. Running server and client on the same CPU takes the cross-CPU wake-up out
 * of each round trip; in a VM that wake-up is an IPI costing tens of µs with µs of jitter, far more than the
 * few µs the collector may add, so pinning both to one CPU is what makes the difference measurable.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char RESPONSE[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok";
static const char REQUEST[] = "GET /api/ping?i=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

#define BUF_SIZE 8192

static void die(const char *what) {
  perror(what);
  exit(1);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static void set_nodelay(int fd) {
  int one = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) die("setsockopt TCP_NODELAY");
}

/* ---- server ---- */

static void *serve_conn(void *arg) {
  int fd = (int)(intptr_t)arg;
  char buf[BUF_SIZE];
  size_t len = 0;
  set_nodelay(fd);
  for (;;) {
    if (len == sizeof buf) break; /* a request larger than the buffer: not ours, drop the connection */
    ssize_t r = read(fd, buf + len, sizeof buf - len);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    len += (size_t)r;
    /* Answer every complete request in the buffer (requests have no body), keep any partial one. */
    size_t off = 0;
    for (;;) {
      char *end = memmem(buf + off, len - off, "\r\n\r\n", 4);
      if (!end) break;
      off = (size_t)(end - buf) + 4;
      if (write_all(fd, RESPONSE, sizeof RESPONSE - 1) < 0) goto done;
    }
    if (off > 0) {
      memmove(buf, buf + off, len - off);
      len -= off;
    }
  }
done:
  close(fd);
  return NULL;
}

static void on_term(int sig) {
  (void)sig;
  _exit(0);
}

static void __attribute__((noreturn)) run_server(int port) {
  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  signal(SIGPIPE, SIG_IGN);
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  if (ls < 0) die("socket");
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
  if (listen(ls, 128) < 0) die("listen");
  for (;;) {
    int fd = accept(ls, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      die("accept");
    }
    pthread_t t;
    if (pthread_create(&t, NULL, serve_conn, (void *)(intptr_t)fd) != 0) {
      close(fd);
      continue;
    }
    pthread_detach(t);
  }
}

/* ---- client ---- */

struct worker {
  int port;
  long requests;
  double rate; /* requests/s for this connection, 0 = back to back */
  uint64_t *lat_ns;
  int failed;
};

/* Reads one response: headers up to \r\n\r\n, then Content-Length bytes of body. Bytes past it stay in buf. */
static int read_response(int fd, char *buf, size_t *len) {
  size_t need = 0;
  for (;;) {
    if (need == 0) {
      char *end = memmem(buf, *len, "\r\n\r\n", 4);
      if (end) {
        size_t hdr = (size_t)(end - buf) + 4;
        size_t body = 0;
        char *cl = memmem(buf, hdr, "Content-Length:", 15);
        if (cl) body = strtoul(cl + 15, NULL, 10);
        need = hdr + body;
      }
    }
    if (need > 0 && *len >= need) {
      memmove(buf, buf + need, *len - need);
      *len -= need;
      return 0;
    }
    if (*len == BUF_SIZE) return -1;
    ssize_t r = read(fd, buf + *len, BUF_SIZE - *len);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    *len += (size_t)r;
  }
}

static void *client_conn(void *arg) {
  struct worker *w = arg;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)w->port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
  set_nodelay(fd);
  char buf[BUF_SIZE];
  size_t len = 0;
  uint64_t start = now_ns();
  for (long i = 0; i < w->requests; i++) {
    if (w->rate > 0) {
      /* Absolute schedule: a late request goes at once and the next ones catch up. Sleep rather than spin: on a
       * two-core box a spinning client would take the core the collector needs, which is what we measure. */
      uint64_t slot = start + (uint64_t)((double)i * 1e9 / w->rate);
      if (now_ns() < slot) {
        struct timespec ts = {.tv_sec = (time_t)(slot / 1000000000ull), .tv_nsec = (long)(slot % 1000000000ull)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
        }
      }
    }
    uint64_t t0 = now_ns();
    if (write_all(fd, REQUEST, sizeof REQUEST - 1) < 0 || read_response(fd, buf, &len) < 0) {
      fprintf(stderr, "pingpong: connection failed after %ld requests\n", i);
      w->failed = 1;
      break;
    }
    w->lat_ns[i] = now_ns() - t0;
  }
  close(fd);
  return NULL;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest value with at least p% of the samples at or below it. */
static double pct_us(const uint64_t *sorted, long n, double p) {
  long rank = (long)((p / 100.0) * (double)n + 0.999999999);
  if (rank < 1) rank = 1;
  if (rank > n) rank = n;
  return (double)sorted[rank - 1] / 1000.0;
}

static int run_client(int port, long requests, double rate, int conns) {
  signal(SIGPIPE, SIG_IGN);
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); /* paced sleeps wake on time, not up to 50 µs late */
  uint64_t *lat = calloc((size_t)requests, sizeof *lat);
  struct worker *ws = calloc((size_t)conns, sizeof *ws);
  pthread_t *ts = calloc((size_t)conns, sizeof *ts);
  if (!lat || !ws || !ts) die("calloc");
  long off = 0;
  for (int c = 0; c < conns; c++) {
    long share = requests / conns + (c < requests % conns ? 1 : 0);
    ws[c] = (struct worker){.port = port, .requests = share, .rate = rate / conns, .lat_ns = lat + off};
    off += share;
  }
  uint64_t t0 = now_ns();
  for (int c = 0; c < conns; c++)
    if (pthread_create(&ts[c], NULL, client_conn, &ws[c]) != 0) die("pthread_create");
  int failed = 0;
  for (int c = 0; c < conns; c++) {
    pthread_join(ts[c], NULL);
    failed |= ws[c].failed;
  }
  double secs = (double)(now_ns() - t0) / 1e9;
  if (failed) return 1;
  qsort(lat, (size_t)requests, sizeof *lat, cmp_u64);
  printf("{\"requests\":%ld,\"seconds\":%.3f,\"rps\":%.0f,\"p50_us\":%.2f,\"p90_us\":%.2f,\"p99_us\":%.2f}\n", requests, secs,
         (double)requests / secs, pct_us(lat, requests, 50), pct_us(lat, requests, 90), pct_us(lat, requests, 99));
  free(lat);
  free(ws);
  free(ts);
  return 0;
}

static void pin_cpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) < 0) die("sched_setaffinity");
}

static void usage(void) {
  fprintf(stderr, "usage: pingpong server --port P [--cpu C]\n       pingpong client --port P --requests N [--rate R] [--conns C] [--cpu C]\n");
  exit(2);
}

int main(int argc, char **argv) {
  if (argc < 2) usage();
  int port = 0, conns = 1, cpu = -1;
  long requests = 0;
  double rate = 0;
  for (int i = 2; i < argc; i++) {
    if (i + 1 >= argc) usage();
    if (!strcmp(argv[i], "--port")) port = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--requests")) requests = atol(argv[++i]);
    else if (!strcmp(argv[i], "--rate")) rate = atof(argv[++i]);
    else if (!strcmp(argv[i], "--conns")) conns = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--cpu")) cpu = atoi(argv[++i]);
    else usage();
  }
  if (port <= 0 || port > 65535) usage();
  if (cpu >= 0) pin_cpu(cpu); /* before any thread starts, so every thread inherits it */
  if (!strcmp(argv[1], "server")) run_server(port);
  if (!strcmp(argv[1], "client")) {
    if (requests <= 0 || conns < 1 || rate < 0) usage();
    if (conns > requests) conns = (int)requests;
    return run_client(port, requests, rate, conns);
  }
  usage();
  return 2;
}
