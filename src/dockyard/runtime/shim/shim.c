/*
 * dockyard-shim: the per-container (or per-exec) monitor.
 *
 * One small C process per running container so that a container outlives the daemon
 * (live-restore): it owns the container's stdio, appends Docker json-file log lines (or the
 * `local` driver's length-framed protobuf entries, D-logs-1), serves
 * attach clients on a unix socket and records the exit code in a file the daemon reads later.
 * It is C rather than Python to stay near conmon's ~2 MiB RSS.
 *
 * Lifecycle: fork + setsid (the daemon never has to reap us), become a child subreaper (runc's
 * container init is re-parented to us, so waitpid gives its real status), run `runc create` (or
 * `runc exec --detach`), report `ok <pid>` / `error <msg>` on --sync-fd, then poll until the
 * process exits, write the exit file atomically and exit. `runc start` and `runc delete` are the
 * daemon's business.
 *
 * Attach protocol (both directions): [1 byte type][4 byte big-endian length][payload].
 * Shim -> client: type 1 stdout, 2 stderr. Client -> shim: type 0 stdin (len 0 = close stdin),
 * type 3 resize (u16 rows, u16 cols, big-endian).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 64
#define LINE_MAX_BYTES (16 * 1024) /* Docker's json-file splits partial lines at 16 KiB */
#define CLIENT_BUF_MAX (1024 * 1024) /* a client further behind than this is dropped */
#define FRAME_MAX (1024 * 1024)
#define MAX_PATHS 16 /* --private-tree / --keep arguments */

#ifndef SYS_open_tree
#define SYS_open_tree 428 /* the same number on every architecture (Linux 5.2) */
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif

static struct {
    const char *id, *bundle, *runtime, *runtime_root, *log, *exit_file, *sock, *pid_file;
    const char *process;
    int sync_fd, tty, stdin_, stdin_once, exec, no_wait;
    int systemd_cgroup; /* runc --systemd-cgroup: cgroupsPath is slice:prefix:name */
    long long log_max_size; /* max-size in bytes; 0: never rotate */
    int log_max_files;      /* max-file: the live file plus max-file - 1 rotated */
    int log_local;          /* --log-format local: moby's local driver framing */
    int log_compress;       /* gzip rotated files: <log>.N.gz */
    const char *trees[MAX_PATHS], *keep[MAX_PATHS]; /* --private-tree, --keep (create only) */
    int ntrees, nkeep;
} o = {.runtime = "runc", .sync_fd = -1, .log_max_files = 1};

struct buf {
    char *data;
    size_t len, cap;
};

struct client {
    int fd;
    int sent_stdin;
    int dead; /* dropped at the end of the loop iteration, so poll indexes stay valid */
    struct buf out, in;
};

struct stream {
    int fd;    /* read end of the container's stdout/stderr pipe, or the pty master */
    int id;    /* 1 stdout, 2 stderr */
    struct buf line; /* the partial line not yet logged */
};

static struct client clients[MAX_CLIENTS];
static int nclients;
static struct stream streams[2] = {{-1, 1, {0}}, {-1, 2, {0}}};
static int listen_fd = -1, log_fd = -1, sig_fd = -1;
static int stdin_fd = -1; /* our end of the container's stdin (pipe write end or pty master) */
static struct buf stdin_pending;
static int stdin_close_requested;
static int started;  /* the process runs (exec mode waits for its first client) */
static int accepted; /* an attach client has connected at least once */
static char tmp_dir[] = "/tmp/dyshim-XXXXXX";
static int tmp_dir_made;

/* ---------- small infrastructure ---------- */

static void buf_append(struct buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d)
            abort(); /* out of memory in a 2 MiB process: nothing sensible left to do */
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void buf_consume(struct buf *b, size_t n)
{
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    if (b->len == 0 && b->cap > 65536) { /* give memory back after a burst */
        free(b->data);
        b->data = NULL;
        b->cap = 0;
    }
}

static void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void cleanup_tmp(void)
{
    char p[64];
    if (!tmp_dir_made)
        return;
    snprintf(p, sizeof p, "%s/console.sock", tmp_dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/runc.log", tmp_dir);
    unlink(p);
    rmdir(tmp_dir);
    tmp_dir_made = 0;
}

/* Report a failure to the daemon while it still waits on --sync-fd, then give up. */
static void fail(const char *fmt, ...)
{
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *c = msg; *c; c++)
        if (*c == '\n')
            *c = ' '; /* the sync protocol is one line */
    if (o.sync_fd >= 0) {
        dprintf(o.sync_fd, "error %s\n", msg);
        close(o.sync_fd);
    }
    cleanup_tmp();
    if (o.sock && listen_fd >= 0)
        unlink(o.sock);
    exit(1);
}

/* RFC3339Nano as Go prints it: trailing zeros of the fraction are trimmed. */
static void format_time(char *out, size_t n)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t k = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
    if (ts.tv_nsec) {
        char frac[16];
        snprintf(frac, sizeof frac, ".%09ld", ts.tv_nsec);
        size_t e = strlen(frac);
        while (frac[e - 1] == '0')
            frac[--e] = 0;
        snprintf(out + k, n - k, "%sZ", frac);
    } else {
        snprintf(out + k, n - k, "Z");
    }
}

/* ---------- json-file log ---------- */

/* Length of a valid UTF-8 sequence at p, or 0 when invalid (logged as U+FFFD like Docker). */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    size_t len;
    if (p[0] < 0x80)
        return 1;
    if ((p[0] & 0xe0) == 0xc0 && p[0] >= 0xc2)
        len = 2;
    else if ((p[0] & 0xf0) == 0xe0)
        len = 3;
    else if ((p[0] & 0xf8) == 0xf0 && p[0] <= 0xf4)
        len = 4;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return len;
}

/* JSON string escaping as Docker's json-file does it (HTML-safe: <, >, & as \u00XX). */
static void json_escape(struct buf *b, const unsigned char *p, size_t n)
{
    char esc[8];
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            buf_append(b, esc, 2);
        } else if (c == '\n') {
            buf_append(b, "\\n", 2);
        } else if (c == '\r') {
            buf_append(b, "\\r", 2);
        } else if (c == '\t') {
            buf_append(b, "\\t", 2);
        } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            buf_append(b, esc, 6);
        } else if (c >= 0x80) {
            size_t l = utf8_len(p + i, n - i);
            if (l == 0) {
                buf_append(b, "\\ufffd", 6);
                i++;
            } else {
                buf_append(b, p + i, l);
                i += l;
            }
            continue;
        } else {
            buf_append(b, &c, 1);
        }
        i++;
    }
}

static long long log_size; /* bytes in the live log file */
static pid_t compress_pid;  /* the gzip of <log>.1 still running, or 0 */
static sigset_t child_mask; /* the signal mask children start with */

/* gzip <log>.1 into <log>.1.gz in a child (gzip removes the source when done, so a reader sees
   either the plain file or the complete .gz); the next rotation waits for it first. */
static void compress_rotated(const char *path)
{
    pid_t pid = fork();
    if (pid == 0) {
        sigprocmask(SIG_SETMASK, &child_mask, NULL);
        execlp("gzip", "gzip", "-n", "-f", "-q", path, (char *)NULL);
        _exit(127);
    }
    compress_pid = pid > 0 ? pid : 0;
}

/* Docker's rotation (moby loggerutils): <log>.N-1 -> <log>.N ... <log> -> <log>.1 (the rotated
   ones gzip'd with compress), then a fresh <log>; with max-file 1 the live file is truncated
   instead. Readers follow by inode (runtime/logs.py). */
static void rotate_log(void)
{
    char from[4200], to[4200];
    const char *ext = o.log_compress ? ".gz" : "";
    close(log_fd);
    if (o.log_max_files > 1) {
        if (compress_pid > 0) {
            while (waitpid(compress_pid, NULL, 0) < 0 && errno == EINTR)
                ;
            compress_pid = 0;
        }
        snprintf(to, sizeof to, "%s.%d%s", o.log, o.log_max_files - 1, ext);
        unlink(to);
        for (int i = o.log_max_files - 1; i > 1; i--) {
            snprintf(from, sizeof from, "%s.%d%s", o.log, i - 1, ext);
            snprintf(to, sizeof to, "%s.%d%s", o.log, i, ext);
            rename(from, to); /* missing while the set fills up: fine */
        }
        snprintf(to, sizeof to, "%s.1", o.log);
        rename(o.log, to);
        if (o.log_compress)
            compress_rotated(to);
    }
    log_fd = open(o.log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
    log_size = 0;
}

/* ---------- local log entries ---------- */

static void put_varint(struct buf *b, uint64_t v)
{
    unsigned char c[10];
    size_t k = 0;
    do {
        c[k] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v)
            c[k] |= 0x80;
        k++;
    } while (v);
    buf_append(b, c, k);
}

static void put_bytes(struct buf *b, unsigned char tag, const void *p, size_t n)
{
    buf_append(b, &tag, 1);
    put_varint(b, n);
    buf_append(b, p, n);
}

/* Per stream: the id and ordinal of the partial message being written (moby's copier). */
static struct {
    char id[65];
    int ordinal;
} partial[3];

/* moby's logdriver.LogEntry: source (1), time_nano (2), line (3), partial (4),
   partial_log_metadata (5: last (1), id (2), ordinal (3)); framed as
   [u32 big-endian size][entry][u32 big-endian size]. A line's own newline is not stored. */
static void local_entry(struct buf *line, int stream_id, const char *p, size_t n)
{
    static struct buf e, md;
    struct timespec ts;
    int complete = p[n - 1] == '\n';
    const char *source = stream_id == 2 ? "stderr" : "stdout";
    clock_gettime(CLOCK_REALTIME, &ts);
    e.len = 0;
    put_bytes(&e, 0x0a, source, strlen(source));
    unsigned char tag = 0x10;
    buf_append(&e, &tag, 1);
    put_varint(&e, (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
    put_bytes(&e, 0x1a, p, complete ? n - 1 : n);
    if (!complete || partial[stream_id].ordinal) {
        if (!partial[stream_id].ordinal) {
            unsigned char r[32];
            if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
                memset(r, 0, sizeof r);
            for (int i = 0; i < 32; i++)
                snprintf(partial[stream_id].id + 2 * i, 3, "%02x", r[i]);
        }
        partial[stream_id].ordinal++;
        md.len = 0;
        if (complete) {
            unsigned char last[2] = {0x08, 0x01};
            buf_append(&md, last, 2);
        }
        put_bytes(&md, 0x12, partial[stream_id].id, 64);
        tag = 0x18;
        buf_append(&md, &tag, 1);
        put_varint(&md, (uint64_t)partial[stream_id].ordinal);
        unsigned char flag[2] = {0x20, 0x01};
        buf_append(&e, flag, 2);
        put_bytes(&e, 0x2a, md.data, md.len);
        if (complete)
            partial[stream_id].ordinal = 0;
    }
    unsigned char size[4] = {(unsigned char)(e.len >> 24), (unsigned char)(e.len >> 16),
                             (unsigned char)(e.len >> 8), (unsigned char)e.len};
    buf_append(line, size, 4);
    buf_append(line, e.data, e.len);
    buf_append(line, size, 4);
}

static void log_entry(int stream_id, const char *p, size_t n)
{
    static struct buf line;
    char ts[64];
    if (log_fd < 0 || n == 0)
        return;
    line.len = 0;
    if (o.log_local) {
        local_entry(&line, stream_id, p, n);
        goto write;
    }
    buf_append(&line, "{\"log\":\"", 8);
    json_escape(&line, (const unsigned char *)p, n);
    const char *mid = stream_id == 2 ? "\",\"stream\":\"stderr\",\"time\":\"" : "\",\"stream\":\"stdout\",\"time\":\"";
    buf_append(&line, mid, strlen(mid));
    format_time(ts, sizeof ts);
    buf_append(&line, ts, strlen(ts));
    buf_append(&line, "\"}\n", 3);
write:
    /* As Docker: the size is checked before each entry, so a file may end one entry past it. */
    if (o.log_max_size > 0 && log_size >= o.log_max_size) {
        rotate_log();
        if (log_fd < 0)
            return;
    }
    write_all(log_fd, line.data, line.len);
    log_size += (long long)line.len;
}

/* Log every complete line of the stream's buffer; a partial line is kept unless it is too long. */
static void log_lines(struct stream *s, int flush)
{
    size_t start = 0;
    for (size_t i = 0; i < s->line.len; i++) {
        if (s->line.data[i] == '\n') {
            log_entry(s->id, s->line.data + start, i + 1 - start);
            start = i + 1;
        } else if (i + 1 - start >= LINE_MAX_BYTES) {
            log_entry(s->id, s->line.data + start, i + 1 - start);
            start = i + 1;
        }
    }
    if (flush && start < s->line.len) {
        log_entry(s->id, s->line.data + start, s->line.len - start);
        start = s->line.len;
    }
    buf_consume(&s->line, start);
}

/* ---------- attach clients ---------- */

static void client_drop(int i)
{
    close(clients[i].fd);
    buf_free(&clients[i].out);
    buf_free(&clients[i].in);
    if (clients[i].sent_stdin && o.stdin_once)
        stdin_close_requested = 1;
    clients[i] = clients[--nclients];
}

static void sweep_clients(void)
{
    for (int i = nclients - 1; i >= 0; i--)
        if (clients[i].dead)
            client_drop(i);
}

static void broadcast(int stream_id, const char *p, size_t n)
{
    unsigned char hdr[5] = {(unsigned char)stream_id, (unsigned char)(n >> 24),
                            (unsigned char)(n >> 16), (unsigned char)(n >> 8), (unsigned char)n};
    for (int i = 0; i < nclients; i++) {
        struct client *c = &clients[i];
        if (c->dead)
            continue;
        if (c->out.len + n + 5 > CLIENT_BUF_MAX) {
            c->dead = 1; /* never let a slow reader block the container's output */
            continue;
        }
        buf_append(&c->out, hdr, 5);
        buf_append(&c->out, p, n);
    }
}

static void accept_clients(void)
{
    for (;;) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (nclients == MAX_CLIENTS) {
            close(fd);
            continue;
        }
        memset(&clients[nclients], 0, sizeof clients[nclients]);
        clients[nclients++].fd = fd;
        accepted = 1;
    }
}

/* Decode complete frames from a client; returns -1 when the client must be dropped. */
static int client_frames(struct client *c)
{
    while (c->in.len >= 5) {
        const unsigned char *h = (const unsigned char *)c->in.data;
        uint32_t len = ((uint32_t)h[1] << 24) | ((uint32_t)h[2] << 16) | ((uint32_t)h[3] << 8) | h[4];
        if (len > FRAME_MAX)
            return -1;
        if (c->in.len < 5 + (size_t)len)
            return 0;
        if (h[0] == 0) {
            c->sent_stdin = 1;
            if (len == 0)
                stdin_close_requested = 1;
            /* Before an exec starts its pipe does not exist yet: keep the data for it. */
            else if ((stdin_fd >= 0 || (!started && o.stdin_)) && !stdin_close_requested)
                buf_append(&stdin_pending, c->in.data + 5, len);
        } else if (h[0] == 3 && len == 4 && o.tty && stdin_fd >= 0) {
            struct winsize ws = {0};
            ws.ws_row = (unsigned short)((h[5] << 8) | h[6]);
            ws.ws_col = (unsigned short)((h[7] << 8) | h[8]);
            ioctl(stdin_fd, TIOCSWINSZ, &ws);
        }
        buf_consume(&c->in, 5 + len);
    }
    return 0;
}

/* ---------- runc ---------- */

/* Unescape the JSON string starting after its opening quote. */
static void json_unescape(const char *s, char *out, size_t cap)
{
    size_t k = 0;
    for (; *s && *s != '"' && k + 4 < cap; s++) {
        if (*s != '\\') {
            out[k++] = *s;
            continue;
        }
        s++;
        switch (*s) {
        case 'n': out[k++] = '\n'; break;
        case 't': out[k++] = '\t'; break;
        case 'r': out[k++] = '\r'; break;
        case 'b': out[k++] = '\b'; break;
        case 'f': out[k++] = '\f'; break;
        case 'u': {
            unsigned v = 0;
            if (sscanf(s + 1, "%4x", &v) != 1)
                break;
            s += 4;
            if (v < 0x80) {
                out[k++] = (char)v;
            } else if (v < 0x800) {
                out[k++] = (char)(0xc0 | (v >> 6));
                out[k++] = (char)(0x80 | (v & 0x3f));
            } else {
                out[k++] = (char)(0xe0 | (v >> 12));
                out[k++] = (char)(0x80 | ((v >> 6) & 0x3f));
                out[k++] = (char)(0x80 | (v & 0x3f));
            }
            break;
        }
        case 0: s--; break;
        default: out[k++] = *s; break;
        }
    }
    out[k] = 0;
}

/* The last error runc logged (its --log-format json file), which is what Docker shows users. */
static void runc_error(const char *log_path, int status, char *out, size_t cap)
{
    char data[65536];
    snprintf(out, cap, "%s exited with status %d", o.runtime, status);
    int fd = open(log_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    off_t size = lseek(fd, 0, SEEK_END);
    off_t from = size > (off_t)sizeof data - 1 ? size - (off_t)sizeof data + 1 : 0;
    ssize_t n = pread(fd, data, sizeof data - 1, from);
    close(fd);
    if (n <= 0)
        return;
    data[n] = 0;
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
        char *m = strstr(line, "\"msg\":\"");
        if (m && strstr(line, "\"level\":\"error\""))
            json_unescape(m + 7, out, cap);
    }
}

/* In runc create's child, before the exec (D-scale-4): a private copy of the mount table without
 * the --private-tree trees, under which the daemon mounts one thing per container (rootfs
 * overlays, network namespaces), so that runc and the kernel copy, scan and detach the host's
 * few dozen mounts instead of two more per running container. The --keep paths (this
 * container's rootfs and namespace files) are cloned first and put back at the same paths after.
 * When the copy cannot be made safely (no open_tree), runc runs in the host's table as before;
 * once the trees are gone, a path that cannot be put back fails the create. */
static void private_mounts(const char *log_path)
{
    int fds[MAX_PATHS];
    if (o.ntrees == 0 || unshare(CLONE_NEWNS) < 0)
        return;
    /* Nothing done in this copy may reach the host's mounts; if that cannot be so, do nothing. */
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
        return;
    for (int i = 0; i < o.nkeep; i++) {
        fds[i] = (int)syscall(SYS_open_tree, AT_FDCWD, o.keep[i], OPEN_TREE_CLONE | O_CLOEXEC);
        if (fds[i] < 0) {
            while (i-- > 0)
                close(fds[i]);
            return;
        }
    }
    for (int i = 0; i < o.ntrees; i++)
        umount2(o.trees[i], MNT_DETACH); /* EINVAL: not a mount point, nothing below to drop */
    for (int i = 0; i < o.nkeep; i++) {
        if (syscall(SYS_move_mount, fds[i], "", AT_FDCWD, o.keep[i], MOVE_MOUNT_F_EMPTY_PATH) < 0) {
            /* in runc's own log format, where the shim reads the error users see */
            int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
            if (fd >= 0) {
                dprintf(fd, "{\"level\":\"error\",\"msg\":\"dockyard-shim: mount %s again: %s\"}\n",
                        o.keep[i], strerror(errno));
                close(fd);
            }
            _exit(1);
        }
        close(fds[i]);
    }
}

/* Run runc with the given stdio; returns its pid. The signal mask is restored for runc.
 * `private_log`: runc create's log, when its mount table is to be private (private_mounts). */
static pid_t run_runtime(char **argv, int in, int out, int err, const sigset_t *oldmask,
                         const char *private_log)
{
    pid_t pid = fork();
    if (pid < 0)
        fail("fork: %s", strerror(errno));
    if (pid == 0) {
        sigprocmask(SIG_SETMASK, oldmask, NULL);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        /* Our own files are private (umask 077); containers and execs get Docker's 022. */
        umask(022);
        if (private_log)
            private_mounts(private_log);
        execv(argv[0], argv);
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* Receive the pty master runc sends over the console socket (SCM_RIGHTS). */
static int recv_console(int lfd, pid_t runc_pid, int *runc_status, int *runc_done)
{
    for (;;) {
        struct pollfd p = {lfd, POLLIN, 0};
        if (poll(&p, 1, 100) > 0) {
            int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (c < 0)
                continue;
            char dummy[256], ctl[CMSG_SPACE(sizeof(int))];
            struct iovec iov = {dummy, sizeof dummy};
            struct msghdr m = {0};
            m.msg_iov = &iov;
            m.msg_iovlen = 1;
            m.msg_control = ctl;
            m.msg_controllen = sizeof ctl;
            ssize_t r = recvmsg(c, &m, MSG_CMSG_CLOEXEC);
            close(c);
            struct cmsghdr *cm = r >= 0 ? CMSG_FIRSTHDR(&m) : NULL;
            if (cm && cm->cmsg_type == SCM_RIGHTS) {
                int fd;
                memcpy(&fd, CMSG_DATA(cm), sizeof fd);
                return fd;
            }
        } else if (waitpid(runc_pid, runc_status, WNOHANG) == runc_pid) {
            *runc_done = 1; /* runc failed before it had a console to send */
            return -1;
        }
    }
}

/* Create the process through runc; returns its host pid or calls fail(). */
static pid_t start_process(const sigset_t *oldmask)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    char log_path[64], console_path[64];
    int console_listen = -1;

    if (!mkdtemp(tmp_dir))
        fail("mkdtemp: %s", strerror(errno));
    tmp_dir_made = 1;
    snprintf(log_path, sizeof log_path, "%s/runc.log", tmp_dir);
    snprintf(console_path, sizeof console_path, "%s/console.sock", tmp_dir);

    if (o.tty) {
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        strncpy(a.sun_path, console_path, sizeof a.sun_path - 1);
        console_listen = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (console_listen < 0 || bind(console_listen, (struct sockaddr *)&a, sizeof a) < 0 ||
            listen(console_listen, 1) < 0)
            fail("console socket: %s", strerror(errno));
    } else {
        if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
            fail("pipe: %s", strerror(errno));
        if (o.stdin_ && pipe2(in, O_CLOEXEC) < 0)
            fail("pipe: %s", strerror(errno));
    }

    char *argv[24];
    int k = 0;
    argv[k++] = (char *)o.runtime;
    argv[k++] = "--root";
    argv[k++] = (char *)o.runtime_root;
    argv[k++] = "--log";
    argv[k++] = log_path;
    argv[k++] = "--log-format";
    argv[k++] = "json";
    if (o.systemd_cgroup)
        argv[k++] = "--systemd-cgroup";
    if (o.exec) {
        argv[k++] = "exec";
        argv[k++] = "--detach";
        argv[k++] = "--process";
        argv[k++] = (char *)o.process;
    } else {
        argv[k++] = "create";
        argv[k++] = "--bundle";
        argv[k++] = (char *)o.bundle;
    }
    argv[k++] = "--pid-file";
    argv[k++] = (char *)o.pid_file;
    if (o.tty) {
        argv[k++] = "--console-socket";
        argv[k++] = console_path;
    }
    argv[k++] = (char *)o.id;
    argv[k] = NULL;

    unlink(o.pid_file);
    pid_t runc = run_runtime(argv, in[0] >= 0 ? in[0] : null, out[1] >= 0 ? out[1] : null,
                             err[1] >= 0 ? err[1] : null, oldmask, o.exec ? NULL : log_path);
    /* Close our copies of the container's ends, or we would never see EOF. */
    if (in[0] >= 0)
        close(in[0]);
    if (out[1] >= 0)
        close(out[1]);
    if (err[1] >= 0)
        close(err[1]);
    close(null);

    int status = 0, done = 0;
    if (o.tty) {
        int master = recv_console(console_listen, runc, &status, &done);
        close(console_listen);
        if (master >= 0) {
            streams[0].fd = master;
            stdin_fd = master;
        }
    } else {
        streams[0].fd = out[0];
        streams[1].fd = err[0];
        stdin_fd = in[1];
    }
    if (!done)
        while (waitpid(runc, &status, 0) < 0 && errno == EINTR)
            ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char msg[4096];
        runc_error(log_path, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), msg,
                   sizeof msg);
        fail("%s", msg);
    }
    cleanup_tmp();

    char pidbuf[32] = {0};
    int fd = open(o.pid_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, pidbuf, sizeof pidbuf - 1) <= 0)
        fail("read pid file %s: %s", o.pid_file, strerror(errno));
    close(fd);
    pid_t pid = (pid_t)atoi(pidbuf);
    if (pid <= 0)
        fail("bad pid file %s", o.pid_file);
    for (int i = 0; i < 2; i++)
        if (streams[i].fd >= 0)
            fcntl(streams[i].fd, F_SETFL, fcntl(streams[i].fd, F_GETFL) | O_NONBLOCK);
    if (stdin_fd >= 0 && !o.tty)
        fcntl(stdin_fd, F_SETFL, fcntl(stdin_fd, F_GETFL) | O_NONBLOCK);
    return pid;
}

/* ---------- the loop ---------- */

/* Read what a stream has; returns 0 at EOF (or EIO: the pty slave side is gone). */
static int pump_stream(struct stream *s)
{
    char data[8192];
    for (;;) {
        ssize_t n = read(s->fd, data, sizeof data);
        if (n > 0) {
            broadcast(s->id, data, (size_t)n);
            buf_append(&s->line, data, (size_t)n);
            log_lines(s, 0);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 1;
        close(s->fd);
        s->fd = -1;
        log_lines(s, 1);
        return 0;
    }
}

static void pump_stdin(void)
{
    if (stdin_fd < 0)
        return;
    while (stdin_pending.len > 0) {
        ssize_t w = write(stdin_fd, stdin_pending.data, stdin_pending.len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return;
            stdin_pending.len = 0; /* the reader went away: nothing will ever consume it */
            break;
        }
        buf_consume(&stdin_pending, (size_t)w);
    }
    /* A pty cannot be half-closed without hanging up the container, so only pipes close. */
    if (stdin_close_requested && !o.tty) {
        close(stdin_fd);
        stdin_fd = -1;
    }
}

static void flush_client(int i)
{
    struct client *c = &clients[i];
    while (c->out.len > 0) {
        ssize_t w = write(c->fd, c->out.data, c->out.len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                c->dead = 1;
            return;
        }
        buf_consume(&c->out, (size_t)w);
    }
}

static int read_client(int i)
{
    char data[8192];
    struct client *c = &clients[i];
    for (;;) {
        ssize_t n = read(c->fd, data, sizeof data);
        if (n > 0) {
            buf_append(&c->in, data, (size_t)n);
            if (client_frames(c) < 0)
                return -1;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        return n < 0 && errno == EAGAIN ? 0 : -1;
    }
}

/* Reap every child (we are a subreaper); returns 1 once `pid` has exited and sets *status. */
static int reap(pid_t pid, int *status)
{
    int st, found = 0;
    pid_t r;
    while ((r = waitpid(-1, &st, WNOHANG)) > 0)
        if (r == compress_pid) {
            compress_pid = 0;
        } else if (r == pid) {
            *status = st;
            found = 1;
        }
    return found;
}

static void write_exit_file(int status)
{
    char tmp[4096], ts[64];
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    snprintf(tmp, sizeof tmp, "%s.tmp", o.exit_file);
    format_time(ts, sizeof ts);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    dprintf(fd, "%d\n%s\n", code, ts);
    /* No fsync: the file lives in the exec root (runtime state, gone with a reboot, which also
       ends the container); rename alone is atomic against a crash of the daemon or the shim. */
    close(fd);
    rename(tmp, o.exit_file);
}

/* Poll until `pid` exits; `started` is 0 in exec mode until the first client arrives. */
static void run_loop(pid_t pid, const sigset_t *oldmask)
{
    struct pollfd p[4 + MAX_CLIENTS];
    int status = 0;
    for (;;) {
        int n = 0, first_client;
        p[n++] = (struct pollfd){sig_fd, POLLIN, 0};
        p[n++] = (struct pollfd){listen_fd, POLLIN, 0};
        p[n++] = (struct pollfd){started ? streams[0].fd : -1, POLLIN, 0};
        p[n++] = (struct pollfd){started ? streams[1].fd : -1, POLLIN, 0};
        first_client = n;
        for (int i = 0; i < nclients; i++)
            p[n++] = (struct pollfd){clients[i].fd, POLLIN | (clients[i].out.len ? POLLOUT : 0), 0};
        if (started && stdin_pending.len && stdin_fd >= 0)
            pump_stdin();
        if (poll(p, (nfds_t)n, stdin_pending.len ? 50 : -1) < 0 && errno != EINTR)
            fail("poll: %s", strerror(errno));

        if (p[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sig_fd, &si, sizeof si) > 0)
                ;
            if (started && reap(pid, &status))
                break;
        }
        if (p[1].revents & POLLIN)
            accept_clients();
        for (int i = 0; i < 2; i++)
            if (p[2 + i].revents)
                pump_stream(&streams[i]);
        for (int i = 0; i < n - first_client; i++) {
            short re = p[first_client + i].revents;
            if (clients[i].dead)
                continue;
            if ((re & (POLLIN | POLLHUP | POLLERR)) && read_client(i) < 0)
                clients[i].dead = 1;
            else if (re & POLLOUT)
                flush_client(i);
        }
        sweep_clients();
        if (started)
            pump_stdin();
        if (!started && accepted) {
            pid = start_process(oldmask);
            dprintf(o.sync_fd, "ok %d\n", pid);
            close(o.sync_fd);
            o.sync_fd = -1;
            started = 1;
            if (reap(pid, &status))
                break;
        }
    }

    /* A client that connected before the process ended must get its output, even when the
       exit and the connection arrived in the same poll round (the loop breaks on the exit
       first): the daemon connects attach sessions before it releases the process, and a
       short-lived process can finish before we ever ran accept(). */
    accept_clients();
    /* The writers are dead: whatever is left in the pipes is all there will be. */
    for (int i = 0; i < 2; i++)
        if (streams[i].fd >= 0)
            pump_stream(&streams[i]);
    for (int i = 0; i < 2; i++)
        log_lines(&streams[i], 1);
    if (compress_pid > 0) /* the rotated file is complete before the exit is reported */
        while (waitpid(compress_pid, NULL, 0) < 0 && errno == EINTR)
            ;
    write_exit_file(status);

    /* Give attach clients up to a second to take the last frames, then hang up. */
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += 1;
    for (;;) {
        int n = 0;
        for (int i = 0; i < nclients; i++)
            if (clients[i].out.len)
                p[n++] = (struct pollfd){clients[i].fd, POLLOUT, 0};
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (n == 0 || now.tv_sec > end.tv_sec ||
            (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
            break;
        poll(p, (nfds_t)n, 100);
        for (int i = 0; i < nclients; i++)
            flush_client(i);
        sweep_clients();
    }
    while (nclients > 0)
        client_drop(nclients - 1);
    unlink(o.sock);
}

static void usage(void)
{
    fprintf(stderr, "usage: dockyard-shim --id ID --bundle DIR --runtime-root ROOT --exit-file F "
                    "--sock S --pid-file F --sync-fd N [--runtime R] [--log F] [--tty] [--stdin] "
                    "[--stdin-once] [--log-max-size BYTES] [--log-max-files N] [--log-format json|local] "
                    "[--log-compress] [--systemd-cgroup] [--private-tree DIR]... [--keep PATH]... "
                    "[--exec --process P [--no-wait]]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **val = NULL;
        if (!strcmp(a, "--tty")) o.tty = 1;
        else if (!strcmp(a, "--stdin")) o.stdin_ = 1;
        else if (!strcmp(a, "--stdin-once")) o.stdin_once = 1;
        else if (!strcmp(a, "--exec")) o.exec = 1;
        else if (!strcmp(a, "--no-wait")) o.no_wait = 1;
        else if (!strcmp(a, "--systemd-cgroup")) o.systemd_cgroup = 1;
        else if (!strcmp(a, "--log-compress")) o.log_compress = 1;
        else if (!strcmp(a, "--log-format") && i + 1 < argc) o.log_local = !strcmp(argv[++i], "local");
        else if (!strcmp(a, "--sync-fd") && i + 1 < argc) o.sync_fd = atoi(argv[++i]);
        else if (!strcmp(a, "--log-max-size") && i + 1 < argc) o.log_max_size = atoll(argv[++i]);
        else if (!strcmp(a, "--log-max-files") && i + 1 < argc) o.log_max_files = atoi(argv[++i]);
        else if (!strcmp(a, "--id")) val = &o.id;
        else if (!strcmp(a, "--bundle")) val = &o.bundle;
        else if (!strcmp(a, "--runtime")) val = &o.runtime;
        else if (!strcmp(a, "--runtime-root")) val = &o.runtime_root;
        else if (!strcmp(a, "--log")) val = &o.log;
        else if (!strcmp(a, "--exit-file")) val = &o.exit_file;
        else if (!strcmp(a, "--sock")) val = &o.sock;
        else if (!strcmp(a, "--pid-file")) val = &o.pid_file;
        else if (!strcmp(a, "--process")) val = &o.process;
        else if (!strcmp(a, "--private-tree") && i + 1 < argc && o.ntrees < MAX_PATHS)
            o.trees[o.ntrees++] = argv[++i];
        else if (!strcmp(a, "--keep") && i + 1 < argc && o.nkeep < MAX_PATHS)
            o.keep[o.nkeep++] = argv[++i];
        else usage();
        if (val) {
            if (i + 1 >= argc)
                usage();
            *val = argv[++i];
        }
    }
    if (!o.id || !o.bundle || !o.runtime_root || !o.exit_file || !o.sock || !o.pid_file ||
        o.sync_fd < 0 || (o.exec && !o.process))
        usage();
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(o.sock) >= sizeof addr.sun_path) {
        fprintf(stderr, "socket path too long: %s\n", o.sock);
        exit(2);
    }
    fcntl(o.sync_fd, F_SETFD, FD_CLOEXEC);

    /* Detach: the daemon may die or restart; we must not be its child or share its session. */
    pid_t child = fork();
    if (child < 0) {
        perror("fork");
        exit(1);
    }
    if (child > 0)
        _exit(0);
    setsid();
    if (chdir("/") < 0)
        fail("chdir: %s", strerror(errno));
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    if (null > 2)
        close(null);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    umask(077);
    /* Orphaned container processes (runc init, exec'd processes) are re-parented to us. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
        fail("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));

    sigset_t mask, oldmask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, &oldmask);
    child_mask = oldmask;
    sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sig_fd < 0)
        fail("signalfd: %s", strerror(errno));

    if (!o.exec) {
        char path[4096], pidtxt[32];
        snprintf(path, sizeof path, "%s/shim.pid", o.bundle);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
            fail("write %s: %s", path, strerror(errno));
        snprintf(pidtxt, sizeof pidtxt, "%d\n", getpid());
        write_all(fd, pidtxt, strlen(pidtxt));
        close(fd);
    }
    if (o.log) {
        log_fd = open(o.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (log_fd < 0)
            fail("open log %s: %s", o.log, strerror(errno));
        struct stat st;
        if (fstat(log_fd, &st) == 0)
            log_size = (long long)st.st_size; /* a restarted container appends */
    }

    strncpy(addr.sun_path, o.sock, sizeof addr.sun_path - 1);
    unlink(o.sock);
    listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&addr, sizeof addr) < 0 ||
        listen(listen_fd, 16) < 0)
        fail("listen on %s: %s", o.sock, strerror(errno));
    chmod(o.sock, 0600);

    if (o.exec) {
        /* Exec output goes only to clients, so wait for one before starting the process. */
        dprintf(o.sync_fd, "listening %d\n", getpid());
        if (o.no_wait) {
            pid_t pid = start_process(&oldmask);
            dprintf(o.sync_fd, "ok %d\n", pid);
            close(o.sync_fd);
            o.sync_fd = -1;
            started = 1;
            run_loop(pid, &oldmask);
        } else {
            run_loop(0, &oldmask);
        }
    } else {
        pid_t pid = start_process(&oldmask);
        dprintf(o.sync_fd, "ok %d\n", pid);
        close(o.sync_fd);
        o.sync_fd = -1;
        started = 1;
        run_loop(pid, &oldmask);
    }
    return 0;
}
