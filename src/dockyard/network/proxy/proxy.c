/* dockyard-proxy: the userland proxy for ports published on [::1] (D-dpy6-4).
 *
 * The kernel cannot DNAT ::1 towards a bridge (IPv6 has no route_localnet: the reply, de-NATed
 * back to ::1 on a non-loopback device, is dropped), so, as dockerd's docker-proxy does, a
 * process relays those connections. The daemon binds and listens on [::1]:PORT itself (the
 * port stays reserved by it) and hands the listening socket over.
 *
 *   dockyard-proxy LISTEN_FD LIFELINE_FD CONTAINER_IP CONTAINER_PORT      (TCP)
 *
 * Each accepted connection is relayed by a child of its own (poll + read/write, half-closes
 * passed on). LIFELINE_FD is the read end of a pipe whose write end only the daemon holds: when
 * the daemon process ends, it reads EOF and the proxy exits; its children die with it
 * (PR_SET_PDEATHSIG). SIGTERM ends it too.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

static int dial(const char *ip, int port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof ss);
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        if (inet_pton(AF_INET6, ip, &a->sin6_addr) != 1)
            return -1;
        len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        if (inet_pton(AF_INET, ip, &a->sin_addr) != 1)
            return -1;
        len = sizeof *a;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Copy both ways until both sides have ended; a side's EOF half-closes the other. */
static void relay(int a, int b)
{
    char buf[65536];
    int open_[2] = {1, 1}; /* a->b, b->a still flowing */
    while (open_[0] || open_[1]) {
        struct pollfd p[2] = {{a, open_[0] ? POLLIN : 0, 0}, {b, open_[1] ? POLLIN : 0, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        for (int i = 0; i < 2; i++) {
            if (!open_[i] || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            int from = i == 0 ? a : b, to = i == 0 ? b : a;
            ssize_t n = read(from, buf, sizeof buf);
            if (n <= 0) {
                if (n < 0 && errno == EINTR)
                    continue;
                open_[i] = 0;
                shutdown(to, SHUT_WR);
                if (n < 0)
                    return;
                continue;
            }
            for (ssize_t off = 0; off < n;) {
                ssize_t w = write(to, buf + off, n - off);
                if (w < 0) {
                    if (errno == EINTR)
                        continue;
                    return;
                }
                off += w;
            }
        }
    }
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: dockyard-proxy LISTEN_FD LIFELINE_FD CONTAINER_IP PORT\n");
        return 2;
    }
    int lfd = atoi(argv[1]), life = atoi(argv[2]);
    const char *ip = argv[3];
    int port = atoi(argv[4]);
    signal(SIGCHLD, SIG_IGN); /* children are reaped by the kernel */
    signal(SIGPIPE, SIG_IGN);
    for (;;) {
        struct pollfd p[2] = {{lfd, POLLIN, 0}, {life, POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        if (p[1].revents)
            return 0; /* the daemon is gone */
        if (!(p[0].revents & POLLIN))
            continue;
        int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (c < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED || errno == EMFILE ||
                errno == ENFILE)
                continue;
            perror("dockyard-proxy: accept");
            return 1;
        }
        pid_t pid = fork();
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL); /* the connection ends with the proxy */
            close(lfd);
            close(life);
            int fl = fcntl(c, F_GETFL);
            fcntl(c, F_SETFL, fl & ~O_NONBLOCK);
            int up = dial(ip, port);
            if (up >= 0)
                relay(c, up);
            _exit(0);
        }
        close(c);
    }
}
