/* getbench (#17, R1): GET /containers/{id}/json over C keep-alive connections to a unix socket,
 * one thread each, total N requests spread evenly, ids picked at random from stdin (one per
 * line). Prints "<requests/s> <p99 ms>". A compiled client, so the number measured is the
 * engine's: a Python client tops out near 4,500 requests/s here whatever the server.
 *   getbench SOCKET CONNECTIONS TOTAL < ids */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char *sock_path;
static char **ids;
static int nids, per;
static double *lat;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void die(const char *what) { perror(what); exit(1); }

static void more(int fd, char *buf, size_t cap, size_t *have) {
    if (*have == cap) { fprintf(stderr, "answer too big\n"); exit(1); }
    ssize_t n = read(fd, buf + *have, cap - *have);
    if (n <= 0) die("read");
    *have += n;
    buf[*have] = 0;  /* buf has cap + 1 bytes: the head can be searched as a string */
}

/* Where the chunked body starting at `at` ends, or 0 while it is not all in buf yet. */
static size_t chunked_end(const char *buf, size_t have, size_t at) {
    for (;;) {
        const char *eol = memmem(buf + at, have - at, "\r\n", 2);
        if (!eol) return 0;
        size_t size = strtoul(buf + at, NULL, 16);
        at = eol + 2 - buf + size + 2;  /* the data and its CRLF (the last: the final CRLF) */
        if (at > have) return 0;
        if (size == 0) return at;
    }
}

/* One answer: the head up to CRLFCRLF, then a Content-Length or a chunked body (Go sends
 * bigger JSON answers chunked). Bytes past the answer stay in buf for the next one. */
static void read_answer(int fd, char *buf, size_t cap, size_t *have) {
    char *end;
    while (!(end = memmem(buf, *have, "\r\n\r\n", 4))) more(fd, buf, cap, have);
    size_t head = end + 4 - buf, want;
    if (strncmp(buf + 9, "200", 3) != 0) { fprintf(stderr, "status %.3s\n", buf + 9); exit(1); }
    char *cl = strcasestr(buf, "content-length:");
    if (cl && cl < end) {
        want = head + strtoul(cl + 15, NULL, 10);
        while (*have < want) more(fd, buf, cap, have);
    } else {
        while (!(want = chunked_end(buf, *have, head))) more(fd, buf, cap, have);
    }
    memmove(buf, buf + want, *have - want);
    *have -= want;
    buf[*have] = 0;
}

static void *client(void *arg) {
    long k = (long)arg;
    unsigned seed = 7919u * (unsigned)(k + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strncpy(a.sun_path, sock_path, sizeof a.sun_path - 1);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
    size_t cap = 1 << 20, have = 0;
    char *buf = calloc(cap + 1, 1), req[256];
    for (int i = 0; i < per; i++) {
        int len = snprintf(req, sizeof req,
                           "GET /containers/%s/json HTTP/1.1\r\nHost: docker\r\n\r\n",
                           ids[rand_r(&seed) % nids]);
        double t0 = now();
        if (write(fd, req, len) != len) die("write");
        read_answer(fd, buf, cap, &have);
        lat[k * per + i] = now() - t0;
    }
    close(fd);
    free(buf);
    return NULL;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: getbench SOCKET CONNECTIONS TOTAL < ids\n"); return 2; }
    sock_path = argv[1];
    int conns = atoi(argv[2]);
    per = atoi(argv[3]) / conns;
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        if (!*line) continue;
        ids = realloc(ids, sizeof *ids * (nids + 1));
        ids[nids++] = strdup(line);
    }
    if (!nids || conns < 1 || per < 1) { fprintf(stderr, "nothing to do\n"); return 2; }
    lat = malloc(sizeof *lat * conns * per);
    pthread_t *t = malloc(sizeof *t * conns);
    double t0 = now();
    for (long k = 0; k < conns; k++) pthread_create(&t[k], NULL, client, (void *)k);
    for (int k = 0; k < conns; k++) pthread_join(t[k], NULL);
    double took = now() - t0;
    int n = conns * per;
    qsort(lat, n, sizeof *lat, cmp);
    printf("%.1f %.3f\n", n / took, lat[(int)(n * 0.99) - 1] * 1e3);
    return 0;
}
