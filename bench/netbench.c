/* netbench: the TCP client and servers of bench/network.py, static so it runs in a bare image
 * and in any network namespace; the tool's own cost is a few microseconds on either engine.
 *
 *   netbench sink PORT              accept one connection at a time, read it to EOF
 *   netbench echo PORT              echo every byte back, many connections at once (poll loop)
 *   netbench send HOST PORT MB      write MB MiB, half-close, wait for EOF; prints "MB/s"
 *   netbench rr HOST PORT N SIZE    N SIZE-byte ping-pongs on one connection
 *   netbench crr HOST PORT N SIZE   N times: connect, SIZE bytes there and back, close
 *   netbench http HOST PORT N       N times: connect, GET /, read to EOF, close
 *   netbench idle                   sleep forever
 *
 * rr/crr/http print "median_us p90_us" over the N round trips (timed with CLOCK_MONOTONIC,
 * connect included for crr/http). The client closes first in crr, as an HTTP/1.0 client would. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXCONN 1024
static char buf[1 << 20];

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

static int listener(const char *port) {
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(port))};
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 512)) die("listen");
    return s;
}

static int dial(const char *host, const char *port) {
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(port))};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) die("address");
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(s, (struct sockaddr *)&a, sizeof a)) die("connect");
    return s;
}

static void exact_write(int s, const char *p, size_t n) {
    while (n) {
        ssize_t k = write(s, p, n);
        if (k <= 0) die("write");
        p += k, n -= (size_t)k;
    }
}

static void exact_read(int s, char *p, size_t n) {
    while (n) {
        ssize_t k = read(s, p, n);
        if (k <= 0) die("read");
        p += k, n -= (size_t)k;
    }
}

static void sink(const char *port) {
    int l = listener(port);
    for (;;) {
        int c = accept(l, 0, 0);
        while (read(c, buf, sizeof buf) > 0) {}
        close(c);
    }
}

/* One poll loop for all connections: no fork or thread per connection, so accepting costs the
 * same few microseconds whichever engine's path the connection came through. */
static void echo(const char *port) {
    struct pollfd p[MAXCONN + 1];
    int n = 1, one = 1;
    p[0] = (struct pollfd){.fd = listener(port), .events = POLLIN};
    for (;;) {
        if (poll(p, n, -1) < 0) die("poll");
        for (int i = n - 1; i >= 1; i--) {
            if (!p[i].revents) continue;
            ssize_t k = read(p[i].fd, buf, 65536);
            if (k > 0 && write(p[i].fd, buf, k) == k) continue;
            close(p[i].fd);
            p[i] = p[--n];
        }
        if (p[0].revents & POLLIN) {
            int c = accept(p[0].fd, 0, 0);
            if (c < 0) continue;
            if (n > MAXCONN) {
                close(c);
                continue;
            }
            setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            p[n++] = (struct pollfd){.fd = c, .events = POLLIN};
        }
    }
}

static void send_mb(const char *host, const char *port, long mb) {
    int s = dial(host, port);
    double t0 = now_us();
    for (long i = 0; i < mb; i++) exact_write(s, buf, sizeof buf);
    shutdown(s, SHUT_WR);
    while (read(s, buf, sizeof buf) > 0) {}
    printf("%.1f\n", mb / ((now_us() - t0) / 1e6));
}

static void report(double *rtt, int n) {
    qsort(rtt, n, sizeof *rtt, cmp);
    printf("%.1f %.1f\n", rtt[n / 2], rtt[n * 9 / 10]);
}

static void rr(const char *host, const char *port, int n, size_t size, int fresh) {
    double *rtt = calloc(n, sizeof *rtt);
    char out[65536], in[65536];
    memset(out, 'x', sizeof out);
    int s = fresh ? -1 : dial(host, port);
    for (int i = 0; i < n; i++) {
        double t0 = now_us();
        if (fresh) s = dial(host, port);
        exact_write(s, out, size);
        exact_read(s, in, size);
        if (fresh) close(s);
        rtt[i] = now_us() - t0;
    }
    report(rtt, n);
}

static void http(const char *host, const char *port, int n) {
    static const char req[] = "GET / HTTP/1.0\r\n\r\n";
    double *rtt = calloc(n, sizeof *rtt);
    for (int i = 0; i < n; i++) {
        double t0 = now_us();
        int s = dial(host, port);
        exact_write(s, req, sizeof req - 1);
        ssize_t k, got = 0;
        while ((k = read(s, buf, sizeof buf)) > 0) got += k;
        if (k < 0 || got == 0) die("http");
        close(s);
        rtt[i] = now_us() - t0;
    }
    report(rtt, n);
}

int main(int argc, char **argv) {
    const char *m = argc > 1 ? argv[1] : "";
    if (!strcmp(m, "idle"))
        for (;;) pause();
    if (!strcmp(m, "sink") && argc == 3) sink(argv[2]);
    if (!strcmp(m, "echo") && argc == 3) echo(argv[2]);
    if (!strcmp(m, "send") && argc == 5) {
        send_mb(argv[2], argv[3], atol(argv[4]));
        return 0;
    }
    if ((!strcmp(m, "rr") || !strcmp(m, "crr")) && argc == 6) {
        size_t size = (size_t)atol(argv[5]);
        if (size < 1 || size > 65536 || atoi(argv[4]) < 1) return 2;
        rr(argv[2], argv[3], atoi(argv[4]), size, m[0] == 'c');
        return 0;
    }
    if (!strcmp(m, "http") && argc == 5 && atoi(argv[4]) > 0) {
        http(argv[2], argv[3], atoi(argv[4]));
        return 0;
    }
    fprintf(stderr, "usage: netbench sink|echo PORT | send HOST PORT MB | "
                    "rr|crr HOST PORT N SIZE | http HOST PORT N | idle\n");
    return 2;
}
