/* netweave-shim: the CNI binary the container runtime execs, as a static executable with no host dependency.
 * Forwards env + stdin to the node daemon and relays its stdout and exit code. Everything it does (frames, limits,
 * timeouts, config keys, error replies, the install-time settings block) is specified in docs/shim-protocol.md;
 * cni/node/shim.py is the other implementation and tests/cni/node/test_shim.py runs the same conformance tests on both.
 * Build: gcc -static -Os (make shim). */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAGIC "NWV1"
#define MAX_REQUEST (4u << 20)
#define MAX_REPLY (4u << 20)
#define CONNECT_TIMEOUT 5
#define REPLY_TIMEOUT 150.0
#define MAX_SHIM_TIMEOUT 3600.0
#define TRY_AGAIN 11
#define INVALID_CONFIG 7
#define FALLBACK_VERSION "1.1.0"
#define MARKER "NETWEAVE-SHIM-SETTINGS-V1"
#define SETTINGS_SIZE 1024
enum { OK, UNREACHABLE, FAILED };

/* node-install rewrites this block in the installed copy: marker, socket path, standalone command, each NUL-ended.
 * Writable and externally visible, so the compiler cannot fold its contents into the code. */
char netweave_settings[SETTINGS_SIZE] = MARKER "\0/run/netweave/cni.sock\0netweave-cni";

static const char *const supported[] = {"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0", NULL};
extern char **environ;

struct buf { char *p; size_t len, cap; };
struct conf { char version[256], socket[512]; int has_version, has_socket, fallback; double timeout; };

static void put(struct buf *b, const void *data, size_t n) {
    if (b->len + n > b->cap && !(b->p = realloc(b->p, b->cap = (b->len + n) * 2 + 4096))) _exit(70);
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void be32(char *p, size_t v) {
    for (int i = 3; i >= 0; i--, v >>= 8) p[i] = (char)(v & 0xff);
}

static unsigned get_u32(const char *p) {
    const unsigned char *u = (const unsigned char *)p;
    return (unsigned)u[0] << 24 | (unsigned)u[1] << 16 | (unsigned)u[2] << 8 | u[3];
}

static int write_all(int fd, const char *p, size_t n) {
    for (ssize_t w; n; p += w > 0 ? w : 0, n -= w > 0 ? (size_t)w : 0)
        if ((w = write(fd, p, n)) < 0 && errno != EINTR) return -1;
    return 0;
}

/* ---- a strict JSON reader for the few top-level keys the shim needs (like json.loads: invalid means {}) ---- */

static const char *ws(const char *p, const char *e) {
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

static int hex4(const char *p, const char *e, unsigned *v) {
    const char *d, *x = "0123456789abcdef0123456789ABCDEF";
    *v = 0;
    for (int i = 0; i < 4; i++) {
        if (p + i >= e || !p[i] || !(d = strchr(x, p[i]))) return -1;
        *v = *v << 4 | (unsigned)((d - x) & 15);
    }
    return 0;
}

/* A string at p (on its opening quote), decoded into out (NUL-free, truncated flag when it does not fit). */
static const char *str(const char *p, const char *e, char *out, size_t cap, int *fits) {
    size_t n = 0;
    *fits = 1;
    for (p++; p < e && *p != '"'; p++) {
        char tmp[4];
        size_t k = 1;
        unsigned c = (unsigned char)*p;
        if (c < 0x20) return NULL;
        tmp[0] = *p;
        if (c == '\\') {
            if (++p >= e) return NULL;
            const char *m = strchr("\"\\/bfnrt", *p);
            if (*p && m) tmp[0] = "\"\\/\b\f\n\r\t"[m - "\"\\/bfnrt"];
            else if (*p == 'u') {
                if (hex4(p + 1, e, &c)) return NULL;
                p += 4;
                if (c >= 0xd800 && c < 0xdc00) {
                    unsigned lo;
                    if (e - p < 7 || p[1] != '\\' || p[2] != 'u' || hex4(p + 3, e, &lo) || lo < 0xdc00 || lo > 0xdfff)
                        return NULL;
                    c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
                    p += 6;
                } else if (c >= 0xdc00 && c < 0xe000) return NULL;
                if (c == 0) *fits = 0; /* a NUL cannot be part of a path or a C string */
                k = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
                for (size_t i = k - 1; i > 0; i--, c >>= 6) tmp[i] = (char)(0x80 | (c & 63));
                tmp[0] = (char)(k == 1 ? c : (0xf00u >> k & 0xff) | c);
            } else return NULL;
        } else if (c >= 0x80) { /* raw UTF-8 must be well-formed, as json.loads decodes it */
            k = c >= 0xc2 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xf0 && c < 0xf5 ? 4 : 0;
            if (!k || (size_t)(e - p) < k) return NULL;
            unsigned cp = c & (0x7fu >> k);
            for (size_t i = 1; i < k; i++) {
                if ((p[i] & 0xc0) != 0x80) return NULL;
                cp = cp << 6 | (p[i] & 63);
                tmp[i] = p[i];
            }
            if (cp < (k == 3 ? 0x800u : k == 4 ? 0x10000u : 0x80u) || (cp >= 0xd800 && cp < 0xe000) || cp > 0x10ffff)
                return NULL;
            p += k - 1;
        }
        if (out && n + k < cap) memcpy(out + n, tmp, k);
        else *fits = 0;
        n += k;
    }
    if (p >= e) return NULL;
    if (out && cap) out[n < cap ? n : cap - 1] = 0;
    return p + 1;
}

static void record(struct conf *c, const char *key, const char *v, const char *e, double num) {
    char s[512];
    int fits = 0, is_str = *v == '"' && str(v, e, s, sizeof s, &fits) && fits && s[0];
    if (!strcmp(key, "cniVersion") && (c->has_version = is_str && strlen(s) < sizeof c->version)) strcpy(c->version, s);
    else if (!strcmp(key, "daemonSocket") && (c->has_socket = is_str)) strcpy(c->socket, s);
    else if (!strcmp(key, "fallback")) c->fallback = is_str && !strcmp(s, "standalone");
    else if (!strcmp(key, "shimTimeout"))
        c->timeout = isfinite(num) && num > 0 && num <= MAX_SHIM_TIMEOUT ? num : REPLY_TIMEOUT;
}

/* One or more digits at q; NULL when there is none. */
static const char *digits(const char *q, const char *e) {
    const char *start = q;
    while (q < e && *q >= '0' && *q <= '9') q++;
    return q == start ? NULL : q;
}

/* Skip one JSON value (NULL when invalid); the keys of a top-level object are recorded in *c. */
static const char *value(const char *p, const char *e, int depth, struct conf *c, double *num) {
    char key[32];
    int fits;
    if ((p = ws(p, e)) >= e || depth > 512) return NULL;
    if (*p == '"') return str(p, e, NULL, 0, &fits);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        if ((p = ws(p + 1, e)) < e && *p == close) return p + 1;
        for (double number = NAN;; number = NAN) {
            if (close == '}' && ((p = ws(p, e)) >= e || *p != '"' || !(p = str(p, e, key, sizeof key, &fits))
                                 || (p = ws(p, e)) >= e || *p++ != ':'))
                return NULL;
            const char *v = ws(p, e);
            if (!(p = value(v, e, depth + 1, NULL, &number)) || (p = ws(p, e)) >= e) return NULL;
            if (close == '}' && c) record(c, fits ? key : "", v, e, number);
            if (*p == close) return p + 1;
            if (*p++ != ',') return NULL;
        }
    }
    for (const char *const *lit = (const char *const[]){"true", "false", "null", NULL}; *lit; lit++)
        if ((size_t)(e - p) >= strlen(*lit) && !memcmp(p, *lit, strlen(*lit))) return p + strlen(*lit);
    const char *q = p + (*p == '-'); /* JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
    if (!(q = q < e && *q == '0' ? q + 1 : digits(q, e))) return NULL;
    if (q < e && *q == '.' && !(q = digits(q + 1, e))) return NULL;
    if (q < e && (*q == 'e' || *q == 'E') && !(q = digits(q + 1 + (q + 1 < e && (q[1] == '+' || q[1] == '-')), e)))
        return NULL;
    char tmp[64] = "";
    memcpy(tmp, p, (size_t)(q - p) < sizeof tmp ? (size_t)(q - p) : 0); /* longer: no usable timeout anyway */
    double d = tmp[0] ? strtod(tmp, NULL) : INFINITY;
    if (num) *num = d;
    return q;
}

/* The top-level keys of the config on stdin; anything but a valid JSON object leaves the defaults (like {}). */
static void read_conf(const char *p, size_t n, struct conf *c) {
    struct conf got = {.timeout = REPLY_TIMEOUT};
    if (n >= 3 && !memcmp(p, "\xef\xbb\xbf", 3)) p += 3, n -= 3; /* a UTF-8 BOM, as json.loads skips it */
    const char *e = p + n, *end = ws(p, e) < e && *ws(p, e) == '{' ? value(p, e, 0, &got, NULL) : NULL;
    *c = end && ws(end, e) == e ? got : (struct conf){.timeout = REPLY_TIMEOUT};
}

/* ---- replies the shim writes itself ---- */

/* `s` as the inside of a JSON string (ASCII controls escaped), truncated to fit `out`. */
static const char *esc(const char *s, char *out, size_t cap) {
    size_t n = 0;
    for (; *s && n + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') out[n++] = '\\', out[n++] = (char)c;
        else if (c < 0x20) n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
        else out[n++] = (char)c;
    }
    out[n] = 0;
    return out;
}

static int fail(const struct conf *c, int code, const char *msg, const char *details) {
    char v[sizeof c->version * 6], m[512], d[4096];
    dprintf(1, "{\"cniVersion\": \"%s\", \"code\": %d, \"msg\": \"%s\", \"details\": \"%s\"}\n",
            esc(c->has_version ? c->version : FALLBACK_VERSION, v, sizeof v), code, esc(msg, m, sizeof m),
            esc(details, d, sizeof d));
    return 1;
}

static int version_reply(const struct conf *c) {
    const char *v = FALLBACK_VERSION;
    for (int i = 0; supported[i]; i++)
        if (c->has_version && !strcmp(c->version, supported[i])) v = supported[i];
    dprintf(1, "{\"cniVersion\": \"%s\", \"supportedVersions\": [", v);
    for (int i = 0; supported[i]; i++) dprintf(1, "%s\"%s\"", i ? ", " : "", supported[i]);
    dprintf(1, "]}\n");
    return 0;
}

/* ---- the exchange with the daemon ---- */

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Wait for `events` until the deadline: 1 ready, 0 timed out. */
static int ready(int fd, short events, double deadline) {
    for (;;) {
        double left = deadline - now();
        if (left <= 0) return 0;
        struct pollfd pfd = {fd, events, 0};
        int r = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (r > 0) return 1;
        if (r < 0 && errno != EINTR) return 1; /* let the next send/recv report the error */
    }
}

/* 0 done, -1 closed by the peer, -2 timed out, -3 error (errno). */
static int recv_exact(int fd, char *out, size_t n, double deadline) {
    for (ssize_t r; n; out += r > 0 ? r : 0, n -= r > 0 ? (size_t)r : 0) {
        if (!ready(fd, POLLIN, deadline)) return -2;
        if ((r = recv(fd, out, n, MSG_DONTWAIT)) == 0) return -1;
        if (r < 0 && errno != EINTR && errno != EAGAIN) return -3;
    }
    return 0;
}

static int call_daemon(const char *path, double timeout, const struct buf *req, struct buf *reply, char *err,
                       size_t errn) {
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path)
        return snprintf(err, errn, "cannot connect to %s: AF_UNIX path too long", path), FAILED;
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {CONNECT_TIMEOUT, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv); /* bounds a blocking connect on a full backlog */
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        if (errno == ENOENT || errno == ECONNREFUSED)
            return snprintf(err, errn, "nothing listens on %s (%s)", path, strerror(errno)), UNREACHABLE;
        return snprintf(err, errn, "cannot connect to %s: %s", path, strerror(errno)), FAILED;
    }
    double deadline = now() + timeout;
    int rc = 0;
    for (size_t off = 0; off < req->len && !rc;) {
        if (!ready(fd, POLLOUT, deadline)) rc = -2;
        ssize_t w = rc ? 0 : send(fd, req->p + off, req->len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w > 0) off += (size_t)w;
        else if (!rc && errno != EINTR && errno != EAGAIN) rc = -3;
    }
    char head[8], why[128];
    if (!rc && !(rc = recv_exact(fd, head, 8, deadline))) {
        unsigned size = get_u32(head + 4);
        if (memcmp(head, MAGIC, 4)) rc = -4, snprintf(why, sizeof why, "not a netweave frame (bad magic)");
        else if (size > MAX_REPLY)
            rc = -4, snprintf(why, sizeof why, "frame of %u bytes exceeds the limit of %u", size, MAX_REPLY);
        else if (size < 4) rc = -4, snprintf(why, sizeof why, "reply payload too short");
        else {
            if (!(reply->p = malloc(size))) _exit(70);
            reply->len = size;
            rc = recv_exact(fd, reply->p, size, deadline);
        }
    }
    int saved = errno;
    close(fd);
    if (rc == -1) snprintf(err, errn, "the daemon closed the connection before replying");
    if (rc == -2) snprintf(err, errn, "no reply from the daemon at %s within %g s", path, timeout);
    if (rc == -3) snprintf(err, errn, "bad exchange with the daemon at %s: %s", path, strerror(saved));
    if (rc == -4) snprintf(err, errn, "bad exchange with the daemon at %s: %s", path, why);
    return rc ? FAILED : OK;
}

/* Replace this process with standalone netweave-cni, handing it the same stdin through a memfd. */
static void exec_standalone(const char *command, const struct buf *in) {
    int fd = memfd_create("netweave-stdin", 0);
    if (fd < 0 || write_all(fd, in->p, in->len) || lseek(fd, 0, SEEK_SET) < 0 || dup2(fd, 0) < 0) return;
    close(fd);
    char *argv[] = {(char *)command, NULL};
    if (command[0] == '/') execv(command, argv);
    else execvp(command, argv);
}

int main(void) {
    struct buf in = {0}, req = {0}, reply = {0};
    struct conf c;
    char err[1024], details[2048], chunk[65536];
    netweave_settings[SETTINGS_SIZE - 1] = 0;
    const char *socket_path = netweave_settings + strlen(MARKER) + 1;
    const char *standalone = socket_path + strlen(socket_path) + 1;
    for (ssize_t r; in.len <= MAX_REQUEST && (r = read(0, chunk, sizeof chunk)) != 0;) {
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) break;
        put(&in, chunk, (size_t)r);
    }
    read_conf(in.len ? in.p : "", in.len, &c);
    if (in.len > MAX_REQUEST - 65536) {
        snprintf(details, sizeof details, "%zu bytes", in.len > MAX_REQUEST + 1 ? MAX_REQUEST + 1 : in.len);
        return fail(&c, INVALID_CONFIG, "network configuration too large", details);
    }
    if (c.has_socket) socket_path = c.socket;
    put(&req, MAGIC "\0\0\0\0\0\0\0\0", 12); /* magic, payload length, env length: filled in below */
    for (char **e = environ; *e; e++) {
        if (!strchr(*e, '=')) continue;
        if (req.len > 12) put(&req, "", 1); /* one NUL between entries */
        put(&req, *e, strlen(*e));
    }
    be32(req.p + 8, req.len - 12);
    if (in.len) put(&req, in.p, in.len);
    be32(req.p + 4, req.len - 8);
    int rc = call_daemon(socket_path, c.timeout, &req, &reply, err, sizeof err);
    if (rc == OK) {
        write_all(1, reply.p + 4, reply.len - 4);
        return (int)get_u32(reply.p);
    }
    if (rc == UNREACHABLE && c.fallback) {
        exec_standalone(standalone, &in); /* returns only when the exec failed */
        snprintf(details, sizeof details, "%s: %s; %s", standalone, strerror(errno), err);
        return fail(&c, TRY_AGAIN, "netweave node daemon is not reachable and the standalone fallback could not be "
                    "started", details);
    }
    if (rc == UNREACHABLE && getenv("CNI_COMMAND") && !strcmp(getenv("CNI_COMMAND"), "VERSION"))
        return version_reply(&c);
    if (rc == UNREACHABLE)
        return fail(&c, TRY_AGAIN, "netweave node daemon is not reachable; is the netweave DaemonSet pod running on "
                    "this node?", err);
    return fail(&c, TRY_AGAIN, "netweave node daemon did not answer; try again later", err);
}
