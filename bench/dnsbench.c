/* dnsbench: sequential (or windowed) A queries over UDP, timed inside the container.
 *
 *   dnsbench SERVER NAME N [WINDOW]   prints "median_us p90_us qps lost"
 *   dnsbench idle                     sleeps forever (the container's main process)
 *
 * WINDOW 1 measures round-trip latency; a larger window keeps that many queries in flight and
 * measures the server's throughput. A query unanswered for 1 s counts as lost. Static, no libc
 * resolver: the client's own cost is a few microseconds on either engine. */
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static size_t query(unsigned char *q, const char *name, unsigned id) {
    size_t n = 12;
    memset(q, 0, 12);
    q[0] = id >> 8, q[1] = id & 0xff, q[2] = 0x01, q[5] = 1; /* RD, one question */
    for (const char *p = name; *p;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        q[n++] = (unsigned char)len;
        memcpy(q + n, p, len);
        n += len;
        p += len + (dot != NULL);
    }
    q[n++] = 0;
    q[n++] = 0, q[n++] = 1, q[n++] = 0, q[n++] = 1; /* A, IN */
    return n;
}

int main(int argc, char **argv) {
    if (argc == 2 && !strcmp(argv[1], "idle")) {
        for (;;) pause();
    }
    if (argc < 4) return 2;
    int n = atoi(argv[3]), window = argc > 4 ? atoi(argv[4]) : 1, lost = 0, ok = 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(53)};
    inet_pton(AF_INET, argv[1], &a.sin_addr);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (connect(s, (struct sockaddr *)&a, sizeof a)) return 1;
    double *rtt = calloc(n, sizeof *rtt), *sent = calloc(65536, sizeof *sent);
    unsigned char q[512], r[4096];
    int next = 0, done = 0, inflight = 0;
    double t0 = now_us();
    while (done < n) {
        while (inflight < window && next < n) {
            unsigned id = next & 0xffff;
            size_t len = query(q, argv[2], id);
            sent[id] = now_us();
            send(s, q, len, 0);
            next++, inflight++;
        }
        struct pollfd p = {.fd = s, .events = POLLIN};
        if (poll(&p, 1, 1000) <= 0) { /* everything in flight is lost */
            lost += inflight, done += inflight, inflight = 0;
            memset(sent, 0, 65536 * sizeof *sent);
            continue;
        }
        ssize_t got = recv(s, r, sizeof r, 0);
        if (got < 12) continue;
        unsigned id = (r[0] << 8) | r[1];
        if (!sent[id]) continue;
        rtt[ok++] = now_us() - sent[id];
        done++;
        sent[id] = 0, inflight--;
    }
    double total = now_us() - t0;
    qsort(rtt, ok, sizeof *rtt, cmp);
    printf("%.1f %.1f %.0f %d\n", ok ? rtt[ok / 2] : 0.0, ok ? rtt[ok * 9 / 10] : 0.0,
           ok / (total / 1e6), lost);
    return 0;
}
